//! The vendor root key: custody, certificates embedded in usage licenses, rotation without a
//! host rebuild, retirement through the root-signed key list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// The seed of the published development root (`tests/fixtures/dev-root.seed`, the reference
/// root of `tollgate_core::reference`).
const DEV_ROOT_SEED: [u8; 32] = [0x0a; 32];

use common::*;
use tollgate_authority::AuthorityError;
use tollgate_core::*;

/// The published development root (`tests/fixtures/dev-root.seed`).
fn dev_seed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dev-root.seed")
}

fn host_verifier(root: &[u8; 32], key_list: Option<&str>) -> Verifier {
    let mut store = TrustStore::new("chariot", root).unwrap();
    if let Some(l) = key_list {
        store.apply_key_list_armor(l).unwrap();
    }
    Verifier::with_trust_store(store)
}

#[test]
fn dev_root_seed_is_the_reference_root() {
    let seed = std::fs::read(dev_seed_path()).unwrap();
    assert_eq!(seed, DEV_ROOT_SEED);
    let (dir, mut v) = vendor();
    assert!(matches!(
        v.root_public_key(),
        Err(AuthorityError::NoRootKey)
    ));
    assert_eq!(v.root_public_key().unwrap_err().code(), 328);
    let public = v.import_root_key_file(&dev_seed_path(), T0).unwrap();
    assert_eq!(
        public,
        VendorSigningKey::from_seed(&DEV_ROOT_SEED).public_key()
    );
    assert_eq!(v.root_public_key().unwrap(), public);
    let path = dir.path().join("keys/root.key");
    assert_eq!(std::fs::read(&path).unwrap(), seed);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // One root per directory.
    let e = v.create_root_key(T0).unwrap_err();
    assert!(matches!(e, AuthorityError::RootKeyExists));
    assert_eq!(e.code(), 329);
    assert!(matches!(
        v.import_root_key(&[7; 32], T0),
        Err(AuthorityError::RootKeyExists)
    ));
    // Not a 32-byte seed.
    let (d2, mut w) = vendor();
    let short = d2.path().join("short.seed");
    std::fs::write(&short, [1u8; 31]).unwrap();
    assert_eq!(w.import_root_key_file(&short, T0).unwrap_err().code(), 313);
    assert!(matches!(
        w.root_public_key(),
        Err(AuthorityError::NoRootKey)
    ));
    // The audit log records the root's public half, never its seed.
    let log = v.audit_log(None, 10).unwrap();
    let e = log.iter().find(|e| e.action == "root.imported").unwrap();
    assert_eq!(e.detail["root_public_key"], hex_string(&public));
    assert!(!format!("{:?}", log).contains(&hex_string(&seed)));
}

#[test]
fn usage_licenses_embed_the_certificate_and_verify_with_the_root_alone() {
    let (_d, mut v) = vendor();
    let root = v.create_root_key(T0).unwrap();
    let issued = v.issue(chariot(2), T0).unwrap();
    let h = Host::new(1);
    let f = v
        .fulfil(
            &h.request(&issued.key, 1),
            DeploymentModel::Offline,
            T0 + 10,
        )
        .unwrap();
    let ul = UsageLicense::from_armor_trusted(
        &f.usage_license,
        &TrustStore::new("chariot", &root).unwrap(),
    )
    .unwrap();
    let cert = KeyCertificate::decode(ul.certificate().unwrap(), &root).unwrap();
    assert_eq!(cert.key_id(), v.active_key_id().unwrap().unwrap());
    assert_eq!(cert.claims().product, "chariot");
    let ent = host_verifier(&root, None)
        .verify(&f.usage_license, &h.fp, T0 + 20)
        .unwrap();
    assert!(ent.has_feature("mqtt-server", T0 + 20));
    // host-config's certificates: the active key's, verifiable with the root.
    let certs = v.key_certificates("chariot", T0 + 30).unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        KeyCertificate::from_armor(&certs[0], &root)
            .unwrap()
            .key_id(),
        cert.key_id()
    );
    assert_eq!(v.key_list("chariot").unwrap(), None);
}

/// Issue 11 §1: a customer runs an authority of their own and mints a license with every
/// feature. A host that trusts only the vendor's compiled-in root refuses it.
#[test]
fn a_license_minted_by_another_authority_is_refused() {
    let (_d, mut vendor_auth) = vendor();
    let root = vendor_auth
        .import_root_key_file(&dev_seed_path(), T0)
        .unwrap();
    let (_d2, mut rogue) = vendor();
    rogue.create_root_key(T0).unwrap();
    let issued = rogue.issue(chariot(1), T0).unwrap();
    let h = Host::new(1);
    let forged = rogue
        .fulfil(&h.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    let e = host_verifier(&root, None)
        .verify(&forged.usage_license, &h.fp, T0 + 1)
        .unwrap_err();
    assert_eq!(e, Error::KeyNotCertified);
    // Without a root of its own, the rogue's license carries no certificate at all.
    let (_d3, mut bare) = vendor();
    let issued = bare.issue(chariot(1), T0).unwrap();
    let f = bare
        .fulfil(&h.request(&issued.key, 1), DeploymentModel::Offline, T0)
        .unwrap();
    assert_eq!(
        host_verifier(&root, None)
            .verify(&f.usage_license, &h.fp, T0 + 1)
            .unwrap_err(),
        Error::KeyNotCertified
    );
}

#[test]
fn rotation_needs_no_host_rebuild_and_retirement_reaches_hosts_through_the_key_list() {
    let (_d, mut v) = vendor();
    let root = v.import_root_key_file(&dev_seed_path(), T0).unwrap();
    let issued = v.issue(chariot(3), T0).unwrap();
    let (a, b) = (Host::new(1), Host::new(2));
    let fa = v
        .fulfil(&a.request(&issued.key, 1), DeploymentModel::Offline, T0 + 1)
        .unwrap();
    let old = v.active_key_id().unwrap().unwrap();

    // The active key cannot be retired.
    let e = v.retire_key(old, T0 + 2).unwrap_err();
    assert!(matches!(&e, AuthorityError::RetireActiveKey(id) if *id == old.to_hex()));
    assert_eq!(e.code(), 330);

    // Rotate: the new key is certified (for the known product) and its usage licenses
    // verify with the same compiled-in root.
    let new = v.rotate_signing_key(T0 + 3).unwrap();
    assert_eq!(v.key_certificates("chariot", T0 + 3).unwrap().len(), 2);
    let fb = v
        .fulfil(&b.request(&issued.key, 1), DeploymentModel::Offline, T0 + 4)
        .unwrap();
    let verifier = host_verifier(&root, None);
    verifier.verify(&fa.usage_license, &a.fp, T0 + 5).unwrap();
    verifier.verify(&fb.usage_license, &b.fp, T0 + 5).unwrap();
    assert_eq!(
        UsageLicense::from_armor_trusted(
            &fb.usage_license,
            &TrustStore::new("chariot", &root).unwrap()
        )
        .unwrap()
        .key_id(),
        new.key_id
    );

    // Retire the old key: key list sequence 1, which hosts apply.
    let lists = v.retire_key(old, T0 + 6).unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!((lists[0].0.as_str(), lists[0].1), ("chariot", 1));
    assert_eq!(
        v.key_list("chariot").unwrap().as_deref(),
        Some(lists[0].2.as_str())
    );
    let list = KeyList::from_armor(&lists[0].2, &root).unwrap();
    assert_eq!(list.retired(), &[old]);
    let verifier = host_verifier(&root, Some(&lists[0].2));
    assert_eq!(
        verifier
            .verify(&fa.usage_license, &a.fp, T0 + 7)
            .unwrap_err(),
        Error::KeyRetired
    );
    verifier.verify(&fb.usage_license, &b.fp, T0 + 7).unwrap();
    // Withdrawn keys are no longer offered to hosts.
    assert_eq!(v.key_certificates("chariot", T0 + 7).unwrap().len(), 1);
    assert!(v
        .public_keys()
        .unwrap()
        .iter()
        .any(|k| k.key_id == old && k.withdrawn_at == Some(T0 + 6)));

    // Again: an error; the next retirement gets sequence 2 and lists both keys.
    assert_eq!(v.retire_key(old, T0 + 8).unwrap_err().code(), 316);
    v.rotate_signing_key(T0 + 9).unwrap();
    let lists = v.retire_key(new.key_id, T0 + 10).unwrap();
    assert_eq!(lists[0].1, 2);
    let list = KeyList::from_armor(&lists[0].2, &root).unwrap();
    let mut both = vec![old, new.key_id];
    both.sort();
    assert_eq!(list.retired(), both.as_slice());
    // Unknown key.
    assert_eq!(v.retire_key(KeyId([9; 8]), T0).unwrap_err().code(), 316);
}

#[test]
fn retiring_needs_a_root() {
    let (_d, mut v) = vendor();
    let old = v.active_key_id().unwrap().unwrap();
    v.rotate_signing_key(T0).unwrap();
    assert!(matches!(
        v.retire_key(old, T0),
        Err(AuthorityError::NoRootKey)
    ));
    assert!(matches!(
        v.key_certificates("chariot", T0),
        Err(AuthorityError::NoRootKey)
    ));
}
