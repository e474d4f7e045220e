//! `compete._compete`: the compiled half of the Python package `compete`.
//!
//! Every function here converts its arguments (NumPy arrays, Python numbers and strings) into the
//! library's types, calls one library function with the GIL released, and converts the result back.
//! There is no logic of its own: what a function computes, checks and refuses is the library's, with
//! the same error messages as the command line. The pure-Python half (`python/compete/*.py`) turns
//! PyTorch objects into arrays and wraps the results in small classes.
//!
//! Errors: [`compete::Error::Io`] becomes `FileNotFoundError` (a missing file) or `OSError`;
//! [`compete::Error::Memory`] `MemoryError`; [`compete::Error::Diverged`] `RuntimeError`; every
//! other error (a bad argument, a bad file content, a shape or a dtype that does not fit)
//! `ValueError`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use compete::analysis::regions::bounds::bounds_report;
use compete::analysis::regions::{CountOptions, PwlNet, Segment, Slice2d, count_1d, count_2d};
use compete::competition::Competition;
use compete::error::Error;
use compete::io::TensorMap;
use compete::models::{AnyModel, load_any};
use compete::retrieval::io::codes_from_packed;
use compete::retrieval::{BinaryCodes, CodesRef, hamming_knn_ref};
use compete::tensor::Matrix;
use compete::train::RunOptions;
use numpy::ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyFileNotFoundError, PyKeyboardInterrupt, PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// `(distances, indices)` of a search.
type Neighbours<'py> = (Bound<'py, PyArray2<i32>>, Bound<'py, PyArray2<i64>>);

/// `(x, labels)` of a data split.
type Examples<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<u8>>);

/// The library's error as the Python exception of the same meaning, with the CLI's message.
fn py_err(e: Error) -> PyErr {
    let message = e.to_string();
    match &e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
        Error::Io { .. } => PyOSError::new_err(message),
        Error::Memory { .. } => PyMemoryError::new_err(message),
        Error::Diverged { .. } => PyRuntimeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// A `ValueError` with the library's wording for a bad parameter.
fn bad(name: &str, value: impl std::fmt::Display, expected: impl Into<String>) -> PyErr {
    py_err(Error::param(name, value, expected))
}

/// `obj` as a NumPy array, or a `ValueError` naming the parameter and what it is instead.
fn array<'a, 'py>(obj: &'a Bound<'py, PyAny>, name: &str, expected: &str) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        let type_name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        bad(name, format!("a {type_name}"), format!("a NumPy array: {expected}"))
    })
}

/// Packed codes handed over from Python: the NumPy memory itself, or a converted copy.
///
/// Codes of a multiple of 64 bits are read as native `u64` words straight from NumPy's bytes: the
/// bits of every code then sit in the same (permuted) places, which leaves every Hamming distance
/// as it is, so the database and the queries must both be read so (they have the same length, or
/// the search refuses them). Other lengths are converted to [`BinaryCodes`]' layout, both sides.
enum Codes<'a> {
    /// C-contiguous, 8-byte aligned NumPy memory, searched in place.
    InPlace(CodesRef<'a>),
    /// The same layout, copied from a strided or misaligned array.
    Words { n: usize, bits: usize, words: Vec<u64> },
    /// Codes whose length is not a multiple of 64 bits, in [`BinaryCodes`]' layout.
    Converted(BinaryCodes),
}

impl Codes<'_> {
    fn view(&self) -> PyResult<CodesRef<'_>> {
        match self {
            Codes::InPlace(v) => Ok(*v),
            Codes::Words { n, bits, words } => CodesRef::new(*n, *bits, words).map_err(py_err),
            Codes::Converted(c) => Ok(c.view()),
        }
    }
}

/// Checks that `obj` is a `[n, columns]` uint8 array (`np.packbits(flags, axis=1)`).
fn packed_array<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray2<'py, u8>> {
    const EXPECTED: &str = "uint8 packed codes of shape [n, bytes per code] (np.packbits(flags, axis=1))";
    let arr = array(obj, name, EXPECTED)?;
    let dtype = arr.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<u8>(py)) {
        return Err(bad(name, format!("an array of dtype {}", dtype.str()?), EXPECTED));
    }
    if arr.ndim() != 2 {
        return Err(bad(name, format!("an array of shape {:?}", arr.shape()), EXPECTED));
    }
    Ok(arr.cast::<PyArray2<u8>>()?.readonly())
}

/// The codes of a checked packed array (see [`Codes`]): in place when the layout allows, else
/// copied once.
fn packed_codes<'a>(py: Python<'_>, arr: &'a PyReadonlyArray2<'_, u8>, name: &str, bits: Option<usize>) -> PyResult<Codes<'a>> {
    let (n, cols) = (arr.shape()[0], arr.shape()[1]);
    let words_layout = cols > 0 && cols.is_multiple_of(8) && bits.is_none_or(|b| b == 8 * cols);
    // `as_slice` also accepts Fortran order (in memory order): only C order is read as it lies.
    let c_order = arr.as_slice().ok().filter(|_| arr.is_c_contiguous());
    if words_layout {
        // NumPy aligns its allocations; a view starting at an odd byte is copied instead.
        if let Some(words) = c_order.and_then(|data| bytemuck::try_cast_slice::<u8, u64>(data).ok()) {
            return CodesRef::new(n, 8 * cols, words).map(Codes::InPlace).map_err(py_err);
        }
        let size = compete::io::memory::bytes(&[n, cols], 1);
        compete::io::memory::check_alloc(&format!("a C-ordered copy of {name} ({n} codes of {} bits)", 8 * cols), size).map_err(py_err)?;
        let view = arr.as_array();
        let words = py.detach(|| {
            let mut words = vec![0u64; n * cols / 8];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
            for (dst, src) in bytes.iter_mut().zip(view.iter()) {
                *dst = *src;
            }
            words
        });
        return Ok(Codes::Words { n, bits: 8 * cols, words });
    }
    let converted = match c_order {
        Some(data) => py.detach(|| codes_from_packed(data, n, cols, bits, name)),
        None => {
            let view = arr.as_array();
            py.detach(|| codes_from_packed(&view.iter().copied().collect::<Vec<u8>>(), n, cols, bits, name))
        }
    };
    converted.map(Codes::Converted).map_err(py_err)
}

/// A batch of examples `[n, ...]` (float32, or float64 rounded to float32) as a `[n, features]`
/// matrix, the trailing axes flattened in C order (so `[n, 28, 28]` images are `[n, 784]`).
fn examples(py: Python<'_>, obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Matrix> {
    const EXPECTED: &str = "a float32 (or float64) batch of shape [n, features] or [n, height, width]";
    let arr = array(obj, name, EXPECTED)?;
    let shape = arr.shape().to_vec();
    if shape.len() < 2 || shape[0] == 0 {
        return Err(bad(name, format!("an array of shape {shape:?}"), EXPECTED));
    }
    let (n, dim) = (shape[0], shape[1..].iter().product::<usize>());
    let dtype = arr.dtype();
    let data: Vec<f32> = if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let typed = arr.cast::<PyArrayDyn<f32>>()?.readonly();
        match typed.as_slice().ok().filter(|_| arr.is_c_contiguous()) {
            Some(s) => s.to_vec(),
            None => typed.as_array().iter().copied().collect(),
        }
    } else if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let typed = arr.cast::<PyArrayDyn<f64>>()?.readonly();
        typed.as_array().iter().map(|&v| v as f32).collect()
    } else {
        return Err(bad(name, format!("an array of dtype {}", dtype.str()?), EXPECTED));
    };
    Matrix::from_vec(n, dim, data).map_err(py_err)
}

/// Loads a checkpoint and checks that `x` fits its model.
fn model_for(checkpoint: &Path, x: &Matrix) -> PyResult<AnyModel> {
    let (model, _) = load_any(checkpoint).map_err(py_err)?;
    model.check_data_width(x.cols, format!("{} against x", checkpoint.display())).map_err(py_err)?;
    Ok(model)
}

/// A matrix as a NumPy array, without a copy.
fn matrix_array(py: Python<'_>, m: Matrix) -> PyResult<Bound<'_, PyArray2<f32>>> {
    let a = Array2::from_shape_vec((m.rows, m.cols), m.data).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// Exact k-nearest neighbours by Hamming distance of packed binary codes.
///
/// `database` and `queries` are uint8 arrays of shape [n, bytes] as `np.packbits(flags, axis=1)`
/// writes them (the layout of the `.npy` files of `compete submasks` and `compete retrieve`).
/// `bits` is the code length (default: 8 * bytes; padding bits must be 0). Returns
/// `(distances, indices)`, int32 and int64 arrays of shape [queries, k], nearest first, ties by the
/// lower database index: FAISS `IndexBinaryFlat.search`'s dtypes and order. The search runs
/// without the GIL on every thread of compete's pool (`RAYON_NUM_THREADS`). C-contiguous codes of
/// a multiple of 64 bits are searched in place, without a copy (do not write to them from another
/// thread meanwhile); others are converted once.
#[pyfunction]
#[pyo3(signature = (database, queries, k, bits = None))]
fn hamming_topk<'py>(
    py: Python<'py>,
    database: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    k: usize,
    bits: Option<usize>,
) -> PyResult<Neighbours<'py>> {
    let (db, q) = (packed_array(py, database, "database")?, packed_array(py, queries, "queries")?);
    let (db, q) = (packed_codes(py, &db, "database", bits)?, packed_codes(py, &q, "queries", bits)?);
    let (db, q) = (db.view()?, q.view()?);
    let found = py.detach(|| hamming_knn_ref(db, q, k)).map_err(py_err)?;
    let m = found.queries();
    let distances: Vec<i32> = found.distances.into_iter().map(|d| d as i32).collect();
    let indices: Vec<i64> = found.indices.into_iter().map(i64::from).collect();
    let shape_err = |e: numpy::ndarray::ShapeError| PyValueError::new_err(e.to_string());
    let d = Array2::from_shape_vec((m, k), distances).map_err(shape_err)?;
    let i = Array2::from_shape_vec((m, k), indices).map_err(shape_err)?;
    Ok((d.into_pyarray(py), i.into_pyarray(py)))
}

/// The examples and labels of one split of a data source, as the command line reads them.
///
/// `source`: `sample` (the MNIST sample shipped in the repository), `mnist:DIR`, `DIR` or
/// `synthetic:NAME`. `split`: `train`, `validation` or `test`. `validation` is the number of
/// training examples held out (default as in training); `l2_normalize` scales every example to unit
/// norm. Returns `(x, labels)`: float32 [n, features] and uint8 [n].
#[pyfunction]
#[pyo3(signature = (source = "sample", split = "test", validation = None, l2_normalize = false))]
fn load_data<'py>(py: Python<'py>, source: &str, split: &str, validation: Option<usize>, l2_normalize: bool) -> PyResult<Examples<'py>> {
    let (train, val, test) = py.detach(|| compete::data::load_split(source, validation, l2_normalize)).map_err(py_err)?;
    let d = match split {
        "train" => train,
        "validation" | "val" => val,
        "test" => test,
        other => return Err(bad("split", other, "train, validation or test")),
    };
    let n = d.labels.len();
    let x = matrix_array(py, Matrix::from_vec(n, d.dim, d.x).map_err(py_err)?)?;
    Ok((x, Array1::from_vec(d.labels).into_pyarray(py)))
}

/// The submasks of a hidden layer of a compete checkpoint for a batch `x`.
///
/// The submask of an example is which competitors won: for ReLU the units with a positive
/// pre-activation, for LWTA the block winners, for maxout the winning pieces (paper A, section 2).
/// `layer` counts from 0 (closest to the input); negative values count from the last hidden layer
/// (-1, the default, is paper A's choice). Returns bool [n, bits], or with `packed=True` uint8
/// [n, ceil(bits / 8)] as `np.packbits(..., axis=1)`, ready for `hamming_topk`.
#[pyfunction]
#[pyo3(signature = (checkpoint, x, layer = -1, packed = false))]
fn submasks<'py>(py: Python<'py>, checkpoint: PathBuf, x: &Bound<'py, PyAny>, layer: i64, packed: bool) -> PyResult<Bound<'py, PyAny>> {
    let x = examples(py, x, "x")?;
    let model = model_for(&checkpoint, &x)?;
    let enc = model.encoder();
    let hidden = enc.layers().len() as i64;
    let index = if layer < 0 { hidden + layer } else { layer };
    let index = compete::analysis::submasks::hidden_layer(enc, Some(usize::try_from(index).unwrap_or(usize::MAX)))
        .map_err(|_| bad("layer", layer, format!("a hidden layer index from {} to {} (negative from the last)", -hidden, hidden - 1)))?;
    let codes = py.detach(|| compete::analysis::submasks::submasks(enc, &x.data, index, 500)).map_err(py_err)?;
    let (n, bits) = (codes.len(), codes.bits());
    if packed {
        let bytes = compete::retrieval::io::codes_to_packed(&codes);
        let a = Array2::from_shape_vec((n, bits.div_ceil(8)), bytes).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py).into_any())
    } else {
        let a = Array2::from_shape_vec((n, bits), codes.to_bools()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py).into_any())
    }
}

/// The feature vectors of a compete checkpoint's encoder for a batch `x` (float32 [n, width]): the
/// last hidden layer's outputs, or what the model defines as its features (a CONV-WTA's pooled maps,
/// an RBM's P(h|v), a DrSAE's z^T). The same numbers as `compete features`.
#[pyfunction]
fn features<'py>(py: Python<'py>, checkpoint: PathBuf, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let x = examples(py, x, "x")?;
    let model = model_for(&checkpoint, &x)?;
    let f = py.detach(|| model.encoder().features(&x)).map_err(py_err)?;
    matrix_array(py, f)
}

/// What a checkpoint holds: `{"kind", "network", "inputs", "hidden_layers", "classifier"}`.
#[pyfunction]
fn checkpoint_info(py: Python<'_>, checkpoint: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let (model, _) = load_any(&checkpoint).map_err(py_err)?;
    let d = PyDict::new(py);
    d.set_item("kind", model.kind())?;
    d.set_item("network", model.encoder().describe())?;
    d.set_item("inputs", model.data_width())?;
    d.set_item("hidden_layers", model.encoder().layers().len())?;
    d.set_item("classifier", model.is_classifier())?;
    Ok(d)
}

/// `{name: float32 array}` (a PyTorch `state_dict` turned into NumPy) as the library's tensors.
fn tensor_map(py: Python<'_>, tensors: &Bound<'_, PyDict>) -> PyResult<TensorMap> {
    let mut map: TensorMap = HashMap::new();
    for (key, value) in tensors.iter() {
        let name: String = key.extract()?;
        let what = format!("tensor {name}");
        let arr = array(&value, &what, "a float32 array")?;
        if !arr.dtype().is_equiv_to(&numpy::dtype::<f32>(py)) {
            return Err(bad(&what, format!("an array of dtype {}", arr.dtype().str()?), "float32"));
        }
        let typed = arr.cast::<PyArrayDyn<f32>>()?.readonly();
        map.insert(name, (arr.shape().to_vec(), typed.as_array().iter().copied().collect()));
    }
    Ok(map)
}

/// Counts the exact linear regions of a piecewise linear network on a segment (two points) or on
/// the triangle / box of the plane through three points (`domain` `"segment"` or `"plane"`).
///
/// The network is a file (`path`: a compete checkpoint, or a PyTorch `nn.Sequential` MLP saved
/// with safetensors) or `tensors` (a `state_dict` as float32 arrays), with `competition` (`relu`,
/// `abs`, `lwta:<block>`, `maxout:<rank>`) for PyTorch networks. `points`: float64 [2 or 3, inputs].
/// Returns a dict: `network`, `regions`, `per_layer`, `pattern_bits`, `patterns` (bool
/// [regions, bits]) and, for a segment, `t` (float64 [regions, 2]); for a plane, `polygons` (a
/// list of float64 [vertices, 2] in plane coordinates) and `areas`.
#[pyfunction]
#[pyo3(signature = (points, domain, path = None, tensors = None, competition = None, margin = 0.0, tolerance = 1e-9, max_regions = 5_000_000))]
#[allow(clippy::too_many_arguments)]
fn regions_count<'py>(
    py: Python<'py>,
    points: &Bound<'py, PyAny>,
    domain: &str,
    path: Option<PathBuf>,
    tensors: Option<&Bound<'py, PyDict>>,
    competition: Option<&str>,
    margin: f64,
    tolerance: f64,
    max_regions: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let competition = competition.map(|c| c.parse::<Competition>().map_err(|e| bad("competition", c, e.to_string()))).transpose()?;
    let net = match (path, tensors) {
        (Some(p), None) => PwlNet::load(&p, competition).map_err(py_err)?,
        (None, Some(t)) => {
            let map = tensor_map(py, t)?;
            let c = competition.ok_or_else(|| {
                bad("competition", "None", "the hidden layers' competition of a PyTorch network: relu, abs, lwta:<block> or maxout:<rank>")
            })?;
            PwlNet::from_sequential(Path::new("state_dict"), &map, c).map_err(py_err)?
        }
        _ => return Err(bad("model", "both or neither of a path and tensors", "exactly one")),
    };
    let arr = array(points, "points", "float64 [2 or 3, inputs]")?;
    let pts = arr.cast::<PyArray2<f64>>().map_err(|_| bad("points", "an array of another dtype or rank", "float64 [2 or 3, inputs]"))?;
    let pts: Vec<Vec<f64>> = pts.readonly().as_array().rows().into_iter().map(|r| r.to_vec()).collect();
    for (i, p) in pts.iter().enumerate() {
        net.check_input(&format!("point {i}"), p).map_err(py_err)?;
    }
    let opts = CountOptions { tolerance, max_regions };
    opts.validate().map_err(py_err)?;
    let out = PyDict::new(py);
    out.set_item("network", net.describe())?;
    let bits = net.pattern_bits();
    out.set_item("pattern_bits", bits)?;
    let patterns = |list: Vec<&[u64]>| -> PyResult<Bound<'py, PyArray2<bool>>> {
        let mut flags = Vec::with_capacity(list.len() * bits);
        for p in &list {
            flags.extend((0..bits).map(|b| p[b / 64] >> (b % 64) & 1 == 1));
        }
        Ok(Array2::from_shape_vec((list.len(), bits), flags).map_err(|e| PyValueError::new_err(e.to_string()))?.into_pyarray(py))
    };
    match (domain, pts.len()) {
        ("segment", 2) => {
            let seg = Segment::new(pts[0].clone(), pts[1].clone()).map_err(py_err)?;
            let part = py.detach(|| count_1d(&net, &seg, &opts)).map_err(py_err)?;
            let t: Vec<f64> = part.pieces.iter().flat_map(|p| p.t).collect();
            out.set_item("regions", part.len())?;
            out.set_item("per_layer", part.per_layer.clone())?;
            out.set_item(
                "t",
                Array2::from_shape_vec((part.len(), 2), t).map_err(|e| PyValueError::new_err(e.to_string()))?.into_pyarray(py),
            )?;
            out.set_item("patterns", patterns(part.pieces.iter().map(|p| p.pattern.as_slice()).collect())?)?;
        }
        ("plane", 3) => {
            let slice = Slice2d::through(&pts[0], &pts[1], &pts[2], margin).map_err(py_err)?;
            let part = py.detach(|| count_2d(&net, &slice, &opts)).map_err(py_err)?;
            out.set_item("regions", part.len())?;
            out.set_item("per_layer", part.per_layer.clone())?;
            let polygons = PyList::empty(py);
            for r in &part.regions {
                let v: Vec<f64> = r.polygon.iter().flatten().copied().collect();
                let a = Array2::from_shape_vec((r.polygon.len(), 2), v).map_err(|e| PyValueError::new_err(e.to_string()))?;
                polygons.append(a.into_pyarray(py))?;
            }
            out.set_item("polygons", polygons)?;
            out.set_item("areas", Array1::from_iter(part.regions.iter().map(|r| r.area())).into_pyarray(py))?;
            out.set_item("patterns", patterns(part.regions.iter().map(|r| r.pattern.as_slice()).collect())?)?;
        }
        (d, n) => return Err(bad("points", format!("{n} points for domain {d:?}"), "2 points for a segment, 3 for a plane")),
    }
    Ok(out)
}

/// Paper E's bounds on the number of linear regions of a network with `n0` inputs and hidden
/// `widths` (and, with `maxout`, the maxout bounds of that rank): a list of dicts with `id`, `name`,
/// `reference`, `value` (a decimal string, or None where the bound does not apply), `log10` and
/// `notes`, as `compete regions bounds --json` writes them.
#[pyfunction]
#[pyo3(signature = (n0, widths, maxout = None, shallow_units = None))]
fn regions_bounds(
    py: Python<'_>,
    n0: usize,
    widths: Vec<usize>,
    maxout: Option<usize>,
    shallow_units: Option<usize>,
) -> PyResult<Bound<'_, PyList>> {
    let report = py.detach(|| bounds_report(n0, &widths, maxout, shallow_units)).map_err(py_err)?;
    let rows = PyList::empty(py);
    for r in report.rows {
        let d = PyDict::new(py);
        d.set_item("id", r.id)?;
        d.set_item("name", r.name)?;
        d.set_item("reference", r.reference)?;
        d.set_item("value", r.value)?;
        d.set_item("log10", r.log10)?;
        d.set_item("notes", r.notes)?;
        rows.append(d)?;
    }
    Ok(rows)
}

/// Runs an experiment file (any `kind`) as `compete run` does and returns the run folder: the file
/// at `origin`, or `text` when given (then `origin` is only the name its errors carry). Ctrl-C
/// stops the run at its next step and raises KeyboardInterrupt; `resume=True` continues it.
#[pyfunction]
#[pyo3(signature = (origin, text = None, out = None, resume = false, quiet = false, data = None))]
fn run_experiment(
    py: Python<'_>,
    origin: PathBuf,
    text: Option<&str>,
    out: Option<PathBuf>,
    resume: bool,
    quiet: bool,
    data: Option<&str>,
) -> PyResult<String> {
    let opts = RunOptions { resume, quiet };
    let run = || match text {
        Some(t) => compete::experiments::file::run_text(t, &origin, data, out.as_deref(), &opts),
        None => compete::experiments::file::run_path(&origin, data, out.as_deref(), &opts),
    };
    // The run trains on its own thread while this one, between short sleeps without the GIL,
    // lets Python see its signals: a Ctrl-C asks the run to stop at its next step
    // (compete::train::interrupt), and its error (the epoch, the checkpoint to resume from)
    // comes back as KeyboardInterrupt.
    let done = std::thread::scope(|scope| {
        let worker = scope.spawn(run);
        let mut signal: Option<PyErr> = None;
        while !worker.is_finished() {
            py.detach(|| std::thread::sleep(std::time::Duration::from_millis(50)));
            if signal.is_none()
                && let Err(e) = py.check_signals()
            {
                signal = Some(e);
                compete::train::interrupt::request();
            }
        }
        let result = worker.join();
        let Some(signal) = signal else {
            return result
                .map_err(|_| PyRuntimeError::new_err("the training thread panicked (a bug in compete: please report it)"))?
                .map_err(py_err);
        };
        compete::train::interrupt::clear();
        // A signal handler's own exception is raised as it is; Ctrl-C with the run's words.
        if !signal.is_instance_of::<PyKeyboardInterrupt>(py) {
            return Err(signal);
        }
        match result {
            Ok(Err(e @ Error::Interrupted { .. })) => Err(PyKeyboardInterrupt::new_err(e.to_string())),
            Ok(Ok(done)) => {
                Err(PyKeyboardInterrupt::new_err(format!("interrupted as the run finished; its folder {} is complete", done.out.display())))
            }
            Ok(Err(e)) => Err(py_err(e)),
            Err(_) => Err(PyRuntimeError::new_err("the training thread panicked (a bug in compete: please report it)")),
        }
    })?;
    Ok(done.out.display().to_string())
}

/// A dict (decoded from JSON) as the TOML text of an experiment file.
#[pyfunction]
fn toml_from_json(json: &str) -> PyResult<String> {
    let value: toml::Value =
        serde_json::from_str(json).map_err(|e| bad("config", "a dict", format!("plain values, lists and dicts ({e})")))?;
    match value {
        toml::Value::Table(t) => toml::to_string(&t).map_err(|e| bad("config", "a dict", format!("a dict TOML can hold ({e})"))),
        _ => Err(bad("config", "not a dict", "a dict of sections, as an experiment file")),
    }
}

/// The compiled half of the `compete` package (see `compete/__init__.py`).
#[pymodule]
fn _compete(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hamming_topk, m)?)?;
    m.add_function(wrap_pyfunction!(load_data, m)?)?;
    m.add_function(wrap_pyfunction!(submasks, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_info, m)?)?;
    m.add_function(wrap_pyfunction!(regions_count, m)?)?;
    m.add_function(wrap_pyfunction!(regions_bounds, m)?)?;
    m.add_function(wrap_pyfunction!(run_experiment, m)?)?;
    m.add_function(wrap_pyfunction!(toml_from_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
