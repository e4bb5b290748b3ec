//! Build script: exposes the `Py_3_12`/`Py_3_13`/... cfgs of the target Python to the crate.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
