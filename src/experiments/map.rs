//! Maps of submasks (paper A, section 3.1, Figure 3 and appendix A.1, Figures 8–9): the submasks of one
//! hidden layer for every example of a data split, laid out in 2-D by t-SNE and coloured by class.
//!
//! For a trained network the submasks of the penultimate layer form one cluster per class (Figure 3b);
//! for the same layer of an untrained network of the same shape they show no structure (Figure 3a).
//! [`submask_map`] computes both maps, [`write_map`] draws them with [`scatter_plot`] and saves the
//! coordinates. Each map is summarised by the share of points whose nearest point in the map has their
//! class ([`neighbour_agreement`]): near 1 for separated class clusters, near `Σ_c share_c²` (0.1 for
//! MNIST) without class structure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::analysis::submasks;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::models::Encoder;
use crate::models::mlp::Mlp;
use crate::report::progress::{ProgressMode, log_line};
use crate::report::scatter::scatter_plot;
use crate::report::tsne::{CodeMetric, TsneParams, neighbour_agreement, tsne_codes_full};
use crate::retrieval::BinaryCodes;

/// What [`submask_map`] maps.
#[derive(Clone, Debug, PartialEq)]
pub struct MapOptions {
    /// The hidden layer, 0 nearest the input; `None`: the last hidden layer (the paper's penultimate
    /// layer).
    pub layer: Option<usize>,
    /// The distance between submasks.
    pub metric: CodeMetric,
    /// How many examples to map; `None`: all. A subset is stratified by class and drawn with
    /// `tsne.seed`.
    pub points: Option<usize>,
    /// t-SNE settings; `tsne.seed` also seeds the subset and the untrained network.
    pub tsne: TsneParams,
    /// Also map the same layer of a freshly initialised network of the same shape
    /// (`Mlp::new(config, tsne.seed)`).
    pub untrained: bool,
    /// How t-SNE reports progress.
    pub progress: ProgressMode,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            layer: None,
            metric: CodeMetric::Hamming,
            points: None,
            tsne: TsneParams::default(),
            untrained: false,
            progress: ProgressMode::Auto,
        }
    }
}

/// One map: the 2-D positions of the mapped examples and what they say.
#[derive(Clone, Debug, PartialEq)]
pub struct MapPanel {
    /// One position per mapped example, in the order of [`SubmaskMap::indices`].
    pub points: Vec<[f32; 2]>,
    /// The final KL divergence of t-SNE.
    pub kl_divergence: f64,
    /// The share of points whose nearest other point in the map has their label.
    pub agreement: f64,
    /// How many different submasks there are among the mapped examples.
    pub distinct_codes: usize,
    /// The mean share of 1 bits (active units) in a submask.
    pub active_share: f64,
    /// Seconds spent on t-SNE.
    pub seconds: f64,
}

/// The maps of one hidden layer's submasks.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmaskMap {
    /// The network, as [`describe`](crate::train::checkpoint::describe) writes it.
    pub network: String,
    /// Number of hidden layers of the network.
    pub hidden_layers: usize,
    /// The mapped hidden layer, 0 nearest the input.
    pub layer: usize,
    /// Bits per submask.
    pub bits: usize,
    /// The distance used.
    pub metric: CodeMetric,
    /// The t-SNE settings used.
    pub tsne: TsneParams,
    /// The mapped examples: row indices into the dataset, ascending.
    pub indices: Vec<usize>,
    /// Their labels.
    pub labels: Vec<u8>,
    /// The map of the given network.
    pub trained: MapPanel,
    /// The map of an untrained network of the same shape, when asked for.
    pub untrained: Option<MapPanel>,
}

/// Row indices of a stratified subset of `want` examples (all of them for `None`), ascending: each class
/// gets its share of `want` (largest remainders first, ties to the lower class), its examples drawn at
/// random with `seed`.
pub fn map_indices(labels: &[u8], want: Option<usize>, seed: u64) -> Result<Vec<usize>> {
    let n = labels.len();
    let Some(want) = want else { return Ok((0..n).collect()) };
    if want == 0 || want > n {
        return Err(Error::param("points", want, format!("between 1 and the number of examples, {n}")));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[usize::from(l)].push(i);
    }
    // Quotas: floor of the exact share, then one more for the largest remainders.
    let mut quota: Vec<usize> = by_class.iter().map(|c| c.len() * want / n).collect();
    let mut order: Vec<usize> = (0..256).filter(|&c| !by_class[c].is_empty()).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(by_class[c].len() * want % n), c));
    let missing = want - quota.iter().sum::<usize>();
    for &c in order.iter().take(missing) {
        quota[c] += 1;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(want);
    for (class, q) in by_class.iter_mut().zip(&quota) {
        class.shuffle(&mut rng);
        out.extend_from_slice(&class[..*q]);
    }
    out.sort_unstable();
    Ok(out)
}

/// Maps `codes` with t-SNE and summarises the map against `labels`.
fn panel(codes: &BinaryCodes, labels: &[u8], options: &MapOptions) -> Result<MapPanel> {
    let started = Instant::now();
    let embedding = tsne_codes_full(codes, options.metric, &options.tsne, options.progress)?;
    let seconds = started.elapsed().as_secs_f64();
    let distinct = (0..codes.len()).map(|i| codes.code(i)).collect::<std::collections::HashSet<_>>().len();
    let ones: u64 = (0..codes.len()).map(|i| u64::from(codes.count_ones(i))).sum();
    Ok(MapPanel {
        agreement: neighbour_agreement(&embedding.points, labels)?,
        points: embedding.points,
        kl_divergence: embedding.kl_divergence,
        distinct_codes: distinct,
        active_share: ones as f64 / (codes.len() * codes.bits()).max(1) as f64,
        seconds,
    })
}

/// Maps the submasks of one hidden layer of `mlp` over `data` (section 3.1), and with
/// `options.untrained` those of the same layer of a fresh network of the same shape
/// (`Mlp::new(config, tsne.seed)`); see [`submask_map_of`] for any encoder.
pub fn submask_map(mlp: &Mlp, data: &Dataset, options: &MapOptions) -> Result<SubmaskMap> {
    let fresh = if options.untrained { Some(Mlp::new(mlp.config.clone(), options.tsne.seed)?) } else { None };
    submask_map_of(mlp, fresh.as_ref().map(|m| m as &dyn Encoder), data, options)
}

/// Maps the submasks of one hidden layer of the encoder `trained` over `data` (section 3.1), and
/// those of the same layer of `untrained` when given (an untrained model of the same architecture).
///
/// Errors: a layer the network does not have (naming the layer and the valid range), data whose width
/// is not the network's input, a bad number of points, t-SNE settings that do not fit the number of
/// points (see [`TsneParams::check`]).
pub fn submask_map_of(trained: &dyn Encoder, untrained: Option<&dyn Encoder>, data: &Dataset, options: &MapOptions) -> Result<SubmaskMap> {
    let layers = trained.layers();
    let hidden = layers.len();
    if hidden == 0 {
        return Err(Error::param(
            "layer",
            options.layer.map_or("the last".to_string(), |l| l.to_string()),
            "a hidden layer, but the network has none",
        ));
    }
    let layer = options.layer.unwrap_or(hidden - 1);
    if layer >= hidden {
        return Err(Error::param(
            "layer",
            layer,
            format!("a hidden layer index from 0 (nearest the input) to {} (the last hidden layer) of {}", hidden - 1, trained.describe()),
        ));
    }
    if data.dim != trained.input_width() {
        return Err(Error::shape(
            "map data against the network",
            format!("{} input features", data.dim),
            format!("{} input features, as the network {}", trained.input_width(), trained.describe()),
        ));
    }
    let indices = map_indices(&data.labels, options.points, options.tsne.seed)?;
    options.tsne.check(indices.len())?;
    let subset;
    let data = if indices.len() == data.len() {
        data
    } else {
        subset = data.subset(&indices)?;
        &subset
    };
    let quiet = matches!(options.progress, ProgressMode::Quiet);
    let mut nets = vec![("trained", trained)];
    if let Some(u) = untrained {
        nets.push(("untrained", u));
    }
    let mut panels = Vec::with_capacity(nets.len());
    for &(name, net) in &nets {
        let codes = submasks(net, &data.x, layer, 500)?;
        if !quiet {
            log_line(&format!(
                "map: submasks of hidden layer {layer} of the {name} network: {} codes of {} bits",
                codes.len(),
                codes.bits()
            ));
        }
        panels.push(panel(&codes, &data.labels, options)?);
    }
    let untrained_panel = if panels.len() > 1 { panels.pop() } else { None };
    let trained_panel = panels.pop().ok_or_else(|| Error::Data("map: no panel was computed".to_string()))?;
    let bits = layers[layer].pre_width;
    Ok(SubmaskMap {
        network: trained.describe(),
        hidden_layers: hidden,
        layer,
        bits,
        metric: options.metric,
        tsne: options.tsne.clone(),
        labels: data.labels.clone(),
        indices,
        trained: trained_panel,
        untrained: untrained_panel,
    })
}

impl SubmaskMap {
    /// The title of a map, four lines: the layer and whether the network is trained; the network and the
    /// submask length; the t-SNE settings and the data; the neighbour agreement.
    pub fn title(&self, data_name: &str, untrained: bool) -> String {
        let panel = if untrained { self.untrained.as_ref().unwrap_or(&self.trained) } else { &self.trained };
        let which = if untrained { format!("untrained network (seed {})", self.tsne.seed) } else { "trained network".to_string() };
        let last = if self.layer + 1 == self.hidden_layers { ", the last" } else { "" };
        format!(
            "Submasks of hidden layer {} (0 to {}{last}), {which}\n\
             {}, {} bits per submask\n\
             t-SNE by {} distance (perplexity {}) of {} points of {}\n\
             nearest neighbour in the map of the same class: {:.1}%",
            self.layer,
            self.hidden_layers - 1,
            self.network,
            self.bits,
            self.metric,
            self.tsne.perplexity,
            self.indices.len(),
            data_name,
            100.0 * panel.agreement
        )
    }

    /// The coordinates as CSV: `index,label,x,y` (and `untrained_x,untrained_y` with an untrained map),
    /// one line per mapped example, `index` being its row in the dataset.
    pub fn csv(&self) -> String {
        let mut s = String::from(if self.untrained.is_some() { "index,label,x,y,untrained_x,untrained_y\n" } else { "index,label,x,y\n" });
        for (k, (&i, &l)) in self.indices.iter().zip(&self.labels).enumerate() {
            let [x, y] = self.trained.points[k];
            s.push_str(&format!("{i},{l},{x},{y}"));
            if let Some(u) = &self.untrained {
                let [ux, uy] = u.points[k];
                s.push_str(&format!(",{ux},{uy}"));
            }
            s.push('\n');
        }
        s
    }
}

/// Writes `dir/map.png`, with an untrained map `dir/map-untrained.png`, and `dir/map.csv`
/// ([`SubmaskMap::csv`]); `data_name` names the data in the titles (`"MNIST test split"`). Returns the
/// paths written.
pub fn write_map(dir: &Path, map: &SubmaskMap, data_name: &str, class_names: Option<&[String]>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let path = dir.join("map.png");
    scatter_plot(&path, &map.title(data_name, false), &map.trained.points, &map.labels, class_names)?;
    written.push(path);
    if let Some(u) = &map.untrained {
        let path = dir.join("map-untrained.png");
        scatter_plot(&path, &map.title(data_name, true), &u.points, &map.labels, class_names)?;
        written.push(path);
    }
    let path = dir.join("map.csv");
    write_atomic(&path, map.csv().as_bytes())?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::competition::Competition;
    use crate::data::synthetic;
    use crate::models::mlp::MlpConfig;

    #[test]
    fn subsets_are_stratified_seeded_and_sorted() {
        // 60 of class 0, 30 of class 1, 10 of class 2.
        let labels: Vec<u8> = (0..100)
            .map(|i| {
                if i % 10 == 0 {
                    2
                } else if i % 10 < 4 {
                    1
                } else {
                    0
                }
            })
            .collect();
        let a = map_indices(&labels, Some(20), 3).unwrap();
        assert_eq!(a.len(), 20);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        let count = |c: u8| a.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(0), count(1), count(2)), (12, 6, 2));
        assert_eq!(a, map_indices(&labels, Some(20), 3).unwrap());
        assert_ne!(a, map_indices(&labels, Some(20), 4).unwrap());
        // Remainders: 7 points = 4.2 + 2.1 + 0.7 -> 4, 2, 1.
        let b = map_indices(&labels, Some(7), 1).unwrap();
        assert_eq!(b.iter().filter(|&&i| labels[i] == 2).count(), 1);
        assert_eq!(map_indices(&labels, None, 0).unwrap(), (0..100).collect::<Vec<_>>());
        assert_eq!(map_indices(&labels, Some(100), 0).unwrap(), (0..100).collect::<Vec<_>>());
        assert!(map_indices(&labels, Some(0), 0).unwrap_err().to_string().contains("points = 0"));
        assert!(map_indices(&labels, Some(101), 0).unwrap_err().to_string().contains("points = 101"));
    }

    #[test]
    fn maps_a_network_and_writes_the_files() {
        let data = synthetic::blobs(150, 6, 3, 0.2, 4).unwrap();
        let config = MlpConfig::new(6, &[(16, Competition::Relu), (24, Competition::Maxout { rank: 2 })], 3).unwrap();
        let mlp = Mlp::new(config, 2).unwrap();
        let options = MapOptions {
            points: Some(90),
            untrained: true,
            tsne: TsneParams { perplexity: 8.0, iterations: 150, ..TsneParams::default() },
            progress: ProgressMode::Quiet,
            ..MapOptions::default()
        };
        let map = submask_map(&mlp, &data, &options).unwrap();
        assert_eq!((map.layer, map.bits, map.indices.len(), map.labels.len()), (1, 48, 90, 90));
        let u = map.untrained.as_ref().unwrap();
        assert_eq!((map.trained.points.len(), u.points.len()), (90, 90));
        assert_ne!(map.trained.points, u.points);
        // Maxout submasks: one winning piece of two per unit.
        assert!((map.trained.active_share - 0.5).abs() < 1e-12);
        assert!(map.labels.iter().zip(&map.indices).all(|(&l, &i)| data.labels[i] == l));
        assert!(map.title("blobs", true).contains("untrained network (seed 0)"));
        assert_eq!(map.title("blobs", false).lines().count(), 4);

        let dir = tempfile::tempdir().unwrap();
        let written = write_map(dir.path(), &map, "blobs", None).unwrap();
        assert_eq!(written.len(), 3);
        assert!(written.iter().all(|p| p.exists()));
        let csv = std::fs::read_to_string(dir.path().join("map.csv")).unwrap();
        assert_eq!(csv.lines().count(), 91);
        assert!(csv.starts_with("index,label,x,y,untrained_x,untrained_y\n"));
        assert_eq!(csv.lines().nth(1).unwrap().split(',').count(), 6);

        let e = submask_map(&mlp, &data, &MapOptions { layer: Some(2), ..options.clone() }).unwrap_err().to_string();
        assert!(e.contains("layer = 2") && e.contains("0 (nearest the input) to 1"), "{e}");
        let e = submask_map(&mlp, &data, &MapOptions { points: Some(20), ..options.clone() }).unwrap_err().to_string();
        assert!(e.contains("perplexity"), "{e}");
        let narrow = synthetic::blobs(50, 5, 3, 0.2, 4).unwrap();
        assert!(submask_map(&mlp, &narrow, &options).unwrap_err().to_string().contains("6 input features"));
    }
}
