//! The `uniffi-bindgen` command of this crate's uniffi version: generates the Python and
//! Kotlin bindings from the built library (`uniffi-bindgen generate --library …`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
