//! Opening with an empty state path is refused before anything touches the file system.
//! Its own test binary: it changes the process's current directory.
#![allow(clippy::unwrap_used)]

use tollgate_core::VendorSigningKey;
use tollgate_sdk::{DirStorage, HostConfig, LicenseManager, SdkError};

#[test]
fn an_empty_state_path_is_refused_and_the_current_directory_gains_no_file() {
    let cwd = tempfile::tempdir().unwrap();
    std::env::set_current_dir(cwd.path()).unwrap();
    let config = HostConfig::new(
        "chariot",
        "4.2.0",
        b"salt".to_vec(),
        VendorSigningKey::from_seed(&[1; 32]).public_key(),
    );

    let err = LicenseManager::open(config, "").unwrap_err();
    assert!(
        matches!(&err, SdkError::InvalidArgument { reason } if reason == "the state directory path is empty"),
        "{err:?}"
    );
    assert_eq!(err.code(), 211);
    let err = DirStorage::open("").unwrap_err();
    assert_eq!(err.code(), 211);

    let entries: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
}
