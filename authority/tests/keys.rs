//! Signing keys: creation, files, rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use tollgate_authority::{Authority, AuthorityError, KeyStatus};
use tollgate_core::*;

#[test]
fn key_rotation_keeps_old_licenses_listed_and_signs_new_ones_with_the_new_key() {
    let (_d, mut v) = vendor();
    let k1 = v.active_key_id().unwrap().unwrap();
    let old = v.issue(chariot(2), T0).unwrap();
    assert_eq!(old.license.key_id(), k1);

    let err = v.create_signing_key(T0).unwrap_err();
    assert!(matches!(err, AuthorityError::SigningKeyExists), "{err:?}");
    let info = v.rotate_signing_key(T0 + 100).unwrap();
    let k2 = info.key_id;
    assert_ne!(k1, k2);
    assert_eq!(v.active_key_id().unwrap(), Some(k2));

    let keys = v.public_keys().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!((keys[0].key_id, keys[0].status), (k1, KeyStatus::Retired));
    assert_eq!(keys[0].retired_at, Some(T0 + 100));
    assert_eq!((keys[1].key_id, keys[1].status), (k2, KeyStatus::Active));
    assert_eq!(keys[1].public_key_hex().len(), 64);
    assert_eq!(KeyId::of(&keys[1].public_key), k2);

    // The old license is still listed, signed by the retired key, and still verifies.
    let listed = v.list_licenses().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, k1);
    let ring = v.keyring().unwrap();
    assert_eq!(
        License::from_armor(&listed[0].armored, &ring)
            .unwrap()
            .key_id(),
        k1
    );

    // New artifacts are signed by the new key.
    let new = v.issue(chariot(1), T0 + 200).unwrap();
    assert_eq!(new.license.key_id(), k2);
    assert_eq!(v.get_license(2).unwrap().key_id, k2);
    let host = Host::new(1);
    let f = v
        .fulfil(
            &host.request(&old.key, 1),
            DeploymentModel::Offline,
            T0 + 300,
        )
        .unwrap();
    let ent = verify(&mut v, &host, &f.usage_license, T0 + 300);
    assert_eq!(ent.key_id(), k2);
    // A host that still only trusts the old key cannot verify it; one with both can.
    let only_old = Keyring::from_keys([&keys[0].public_key]).unwrap();
    assert_eq!(
        Verifier::new("chariot", only_old).verify(&f.usage_license, &host.fp, T0 + 300),
        Err(Error::UnknownKeyId)
    );

    let log = v.audit_log(None, 100).unwrap();
    let rotated = log.iter().find(|e| e.action == "key.rotated").unwrap();
    assert_eq!(rotated.detail["retired_key_id"], k1.to_hex());
    assert_eq!(rotated.detail["key_id"], k2.to_hex());
}

#[test]
fn rotate_needs_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = Authority::open(dir.path()).unwrap();
    let err = v.rotate_signing_key(T0).unwrap_err();
    assert!(matches!(err, AuthorityError::NoSigningKey), "{err:?}");
    assert!(v.public_keys().unwrap().is_empty());
    // The refused attempt left no key file behind.
    assert_eq!(
        std::fs::read_dir(dir.path().join("keys")).unwrap().count(),
        0
    );
}

#[test]
fn key_file_is_private_and_the_seed_is_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = Authority::open(dir.path()).unwrap();
    assert!(dir.path().join("ledger.sqlite").is_file());
    let info = v.create_signing_key(T0).unwrap();
    let path = dir
        .path()
        .join("keys")
        .join(format!("{}.key", info.key_id.to_hex()));
    let seed = std::fs::read(&path).unwrap();
    assert_eq!(seed.len(), 32);
    let key = VendorSigningKey::from_seed(&seed.clone().try_into().unwrap());
    assert_eq!(key.public_key(), info.public_key);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode {mode:o}");
        let dir_mode = std::fs::metadata(dir.path().join("keys"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700, "keys dir mode {dir_mode:o}");
        for name in ["ledger.sqlite", "ledger.sqlite-wal"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{name} mode {mode:o}");
        }
    }

    // Neither the ledger nor Debug output hold the seed.
    v.issue(chariot(1), T0).unwrap();
    let seed_hex = hex_string(&seed);
    for name in ["ledger.sqlite", "ledger.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            assert!(!bytes.windows(32).any(|w| w == seed.as_slice()), "{name}");
            assert!(
                !bytes.windows(64).any(|w| w == seed_hex.as_bytes()),
                "{name}"
            );
        }
    }
    assert!(!format!("{v:?}").contains(&seed_hex));
    for e in v.audit_log(None, 100).unwrap() {
        assert!(!e.detail.to_string().contains(&seed_hex));
    }
}

#[test]
fn a_damaged_key_file_is_reported_not_used() {
    let (d, mut v) = vendor();
    let id = v.active_key_id().unwrap().unwrap();
    let path = d.path().join("keys").join(format!("{}.key", id.to_hex()));
    std::fs::write(&path, [0u8; 32]).unwrap();
    let err = v.issue(chariot(1), T0).unwrap_err();
    assert!(matches!(err, AuthorityError::KeyFile { .. }), "{err:?}");
    std::fs::write(&path, [0u8; 31]).unwrap();
    assert!(matches!(
        v.issue(chariot(1), T0).unwrap_err(),
        AuthorityError::KeyFile { .. }
    ));
    std::fs::remove_file(&path).unwrap();
    let err = v.issue(chariot(1), T0).unwrap_err();
    assert!(matches!(err, AuthorityError::KeyFile { .. }), "{err:?}");
    assert_eq!(err.code(), 313);
    assert!(v.list_licenses().unwrap().is_empty());
}

#[test]
fn reopening_keeps_everything() {
    let (d, mut v) = vendor();
    let issued = v.issue(chariot(1), T0).unwrap();
    let host = Host::new(1);
    let req = host.request(&issued.key, 1);
    let f = v.fulfil(&req, DeploymentModel::Offline, T0).unwrap();
    drop(v);
    let mut v = reopen(d.path());
    assert_eq!(
        v.schema_version().unwrap(),
        tollgate_authority::schema_version()
    );
    assert_eq!(v.list_licenses().unwrap().len(), 1);
    let again = v.fulfil(&req, DeploymentModel::Offline, T0 + 5).unwrap();
    assert_eq!(again.usage_license, f.usage_license);
}
