//! Models: each file is one model of the papers, a plain struct of parameters with its forward and
//! backward passes.

pub mod mlp;
pub mod mlp_burn;
