//! `compete dictionary`: a checkpoint's dictionary as a picture (paper B, Figures 1, 2, 5b, 6), and
//! for a CONV-WTA the feature maps of one input with and without spatial sparsity (Figure 5c, 5d).

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};

/// Flags of `compete dictionary`.
#[derive(Debug, Args)]
pub struct DictionaryArgs {
    /// The checkpoint.
    pub checkpoint: PathBuf,
    /// Data, for the image shape and the example of `--example`: `sample`, `mnist:DIR` or `DIR`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Also draw the last feature maps of this test example, with and without sparsity (CONV-WTA).
    #[arg(long)]
    pub example: Option<usize>,
    /// Draw at most this many atoms (the first ones; default all).
    #[arg(long)]
    pub max_atoms: Option<usize>,
    /// Pixels per value (default: 8 for filters of up to 16x16, else 3).
    #[arg(long)]
    pub zoom: Option<usize>,
    /// Output folder (created).
    #[arg(short, long, default_value = ".")]
    pub out: PathBuf,
}

/// `compete dictionary`.
pub fn run(args: DictionaryArgs) -> Result<()> {
    let (model, _train, _val, test) = super::common::model_and_data(&args.checkpoint, &args.data, None, false)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let path = args.out.join("dictionary.png");
    for (flag, v) in [("--max-atoms", args.max_atoms), ("--zoom", args.zoom)] {
        if v == Some(0) {
            return Err(Error::param(flag, 0, "at least 1"));
        }
    }
    if crate::train::run::write_dictionary(&args.checkpoint, test.image_shape, &path, args.max_atoms, args.zoom)? {
        println!("wrote {}", path.display());
        if let Ok(t) = std::fs::read_to_string(path.with_extension("txt")) {
            print!("{t}");
        }
    } else {
        return Err(Error::param(
            "checkpoint",
            args.checkpoint.display(),
            format!("a model with a dictionary in the input's space (this {} model has none to draw)", model.kind()),
        ));
    }
    if let Some(i) = args.example {
        if i >= test.len() {
            return Err(Error::param("--example", i, format!("a test example below {}", test.len())));
        }
        let maps = model.sparse_maps(test.row(i)).ok_or_else(|| {
            Error::param("--example", i, format!("a CONV-WTA checkpoint (this is a {} model, which has no sparse maps)", model.kind()))
        })??;
        for (name, values) in [("maps-sparse.png", &maps.sparse), ("maps-relu.png", &maps.relu)] {
            let p = args.out.join(name);
            crate::report::images::write_maps(&p, values, maps.shape, 4)?;
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}
