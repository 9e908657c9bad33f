//! The Linux probes against fake `/etc`, `/sys`, `/proc` and `/dev` trees.
#![cfg(unix)]
// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use tollgate_core::{Component, ComponentKind};
use tollgate_sdk::fingerprint::{self, app_specific_id, inspect, Composite, FingerprintSource};
use tollgate_sdk::LinuxProbes;

const SALT: &[u8] = b"chariot-salt";
const MACHINE_ID: &str = "0123456789abcdef0123456789abcdef";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

/// A bare-metal server: machine-id, DMI, two physical NICs plus virtual, random, zero and
/// loopback ones, a SATA root disk with a WWID, a host name.
fn server(root: &Path) {
    write(root, "etc/machine-id", &format!("{MACHINE_ID}\n"));
    write(
        root,
        "sys/class/dmi/id/product_uuid",
        "4C4C4544-0042-3510-8052-B4C04F4E4E32\n",
    );
    let pci = "sys/devices/pci0000:00";
    for (name, addr, assign) in [
        ("eth0", "52:54:00:12:34:56", "0"),
        ("eth1", "AA:BB:CC:00:11:22", "3"),
        ("wlan0", "de:ad:be:ef:00:01", "1"),
        ("eth9", "00:00:00:00:00:00", "0"),
    ] {
        let dev = format!("{pci}/net/{name}");
        write(root, &format!("{dev}/address"), &format!("{addr}\n"));
        write(
            root,
            &format!("{dev}/addr_assign_type"),
            &format!("{assign}\n"),
        );
        fs::create_dir_all(root.join(&dev).join("device")).unwrap();
        link(
            root,
            &format!("sys/class/net/{name}"),
            &format!("../../devices/pci0000:00/net/{name}"),
        );
    }
    // Virtual interfaces: no `device` link, or under /sys/devices/virtual.
    write(
        root,
        "sys/devices/virtual/net/lo/address",
        "00:00:00:00:00:00\n",
    );
    link(root, "sys/class/net/lo", "../../devices/virtual/net/lo");
    write(
        root,
        "sys/devices/virtual/net/docker0/address",
        "02:42:ac:11:00:02\n",
    );
    link(
        root,
        "sys/class/net/docker0",
        "../../devices/virtual/net/docker0",
    );
    write(
        root,
        "sys/devices/virtual/net/veth1/address",
        "0a:58:0a:f4:00:01\n",
    );
    fs::create_dir_all(root.join("sys/devices/virtual/net/veth1/device")).unwrap();
    link(
        root,
        "sys/class/net/veth1",
        "../../devices/virtual/net/veth1",
    );

    let disk = format!("{pci}/ata1/host0/block/sda");
    write(
        root,
        &format!("{disk}/device/wwid"),
        "naa.5002538e4095a2b1\n",
    );
    write(root, &format!("{disk}/sda2/partition"), "2\n");
    link(
        root,
        "sys/dev/block/8:2",
        "../../devices/pci0000:00/ata1/host0/block/sda/sda2",
    );
    write(
        root,
        "proc/self/mountinfo",
        "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n\
         23 22 0:21 / /proc rw,nosuid - proc proc rw\n",
    );
    write(root, "proc/sys/kernel/hostname", "Broker-1\n");
}

fn collect(root: &Path) -> Vec<(ComponentKind, Vec<u8>)> {
    LinuxProbes::with_root(root, SALT).collect().unwrap()
}

#[test]
fn bare_metal_server_exact_identifiers_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    server(tmp.path());
    let raw = collect(tmp.path());
    let machine_id = hex::decode(MACHINE_ID).unwrap();
    assert_eq!(
        raw,
        vec![
            (ComponentKind::MachineId, app_specific_id(SALT, &machine_id)),
            (
                ComponentKind::DmiProductUuid,
                b"4c4c4544-0042-3510-8052-b4c04f4e4e32".to_vec()
            ),
            (ComponentKind::Mac, vec![0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            (ComponentKind::Mac, vec![0xaa, 0xbb, 0xcc, 0x00, 0x11, 0x22]),
            (ComponentKind::RootDisk, b"naa.5002538e4095a2b1".to_vec()),
            (ComponentKind::Hostname, b"broker-1".to_vec()),
        ]
    );
    // The machine id itself never comes out of the probe.
    assert!(raw
        .iter()
        .all(|(_, v)| !v.windows(16).any(|w| w == machine_id)));
    assert_eq!(
        hex::encode(app_specific_id(SALT, &machine_id)),
        "84ab6afccbcd46fb18b8ca77a9849fde3535d11ad63a23aa6e18ec935be93fac"
    );

    // The digests that leave the host, pinned (cross-checked with Python's hmac/hashlib:
    // HMAC-SHA256 for the machine id, HKDF-SHA256 for the digests).
    let fp = fingerprint::compute(&LinuxProbes::with_root(tmp.path(), SALT), SALT).unwrap();
    let digests: Vec<(u8, String)> = fp
        .components()
        .iter()
        .map(|c| (c.kind, hex::encode(c.digest)))
        .collect();
    assert_eq!(
        digests,
        vec![
            (1, "70b59363be0fa8eb".to_string()),
            (2, "2a1645dbcc68560f".to_string()),
            (3, "a2fd368504483785".to_string()),
            (3, "df4a0b1e5bf58daf".to_string()),
            (4, "75c7e192f8874e7b".to_string()),
            (5, "e6d93ecf71622f71".to_string()),
        ]
    );
}

#[test]
fn fallbacks_dbus_machine_id_nvme_and_fs_uuid() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // No /etc/machine-id; the D-Bus copy, upper case.
    write(root, "var/lib/dbus/machine-id", &MACHINE_ID.to_uppercase());
    // DMI placeholder from firmware without one: skipped.
    write(
        root,
        "sys/class/dmi/id/product_uuid",
        "03000200-0400-0500-0006-000700080009\n",
    );
    // NVMe: the namespace's wwid.
    let ns = "sys/devices/pci0000:00/nvme/nvme0/nvme0n1";
    write(root, &format!("{ns}/wwid"), "eui.0025388b91b3c5e1\n");
    write(root, &format!("{ns}/nvme0n1p2/partition"), "2\n");
    link(
        root,
        "sys/dev/block/259:2",
        "../../devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p2",
    );
    write(
        root,
        "proc/self/mountinfo",
        "1 0 259:2 / / rw - xfs /dev/nvme0n1p2 rw\n",
    );
    write(root, "proc/sys/kernel/hostname", "localhost\n");
    let raw = collect(root);
    let machine_id = hex::decode(MACHINE_ID).unwrap();
    assert_eq!(
        raw,
        vec![
            (ComponentKind::MachineId, app_specific_id(SALT, &machine_id)),
            (ComponentKind::RootDisk, b"eui.0025388b91b3c5e1".to_vec()),
        ]
    );

    // btrfs: an anonymous device number; the file-system UUID from /dev/disk/by-uuid.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(root, "dev/sda3", "");
    write(root, "dev/sda1", "");
    link(
        root,
        "dev/disk/by-uuid/3F6C1B2A-9D8E-4F70-A1B2-C3D4E5F60718",
        "../../sda3",
    );
    link(root, "dev/disk/by-uuid/0A1B-2C3D", "../../sda1");
    write(
        root,
        "proc/self/mountinfo",
        "30 1 0:31 /@ / rw - btrfs /dev/sda3 rw,subvol=/@\n",
    );
    assert_eq!(
        collect(root),
        vec![(
            ComponentKind::RootDisk,
            b"3f6c1b2a-9d8e-4f70-a1b2-c3d4e5f60718".to_vec()
        )]
    );

    // LVM: the device-mapper UUID.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        "sys/devices/virtual/block/dm-0/dm/uuid",
        "LVM-k3Xz9\n",
    );
    link(
        root,
        "sys/dev/block/253:0",
        "../../devices/virtual/block/dm-0",
    );
    write(
        root,
        "proc/self/mountinfo",
        "25 1 253:0 / / rw - ext4 /dev/mapper/vg-root rw\n",
    );
    assert_eq!(
        collect(root),
        vec![(ComponentKind::RootDisk, b"LVM-k3Xz9".to_vec())]
    );
}

#[test]
fn an_empty_tree_is_a_fingerprint_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = LinuxProbes::with_root(tmp.path(), SALT)
        .collect()
        .unwrap_err();
    assert_eq!(err.code(), 210);
}

#[test]
fn composite_replaces_and_adds_and_inspect_reports_digests_only() {
    let tmp = tempfile::tempdir().unwrap();
    server(tmp.path());
    let source = Composite::new(Box::new(LinuxProbes::with_root(tmp.path(), SALT)))
        .replace(ComponentKind::Hostname)
        .replace(ComponentKind::Mac)
        .add(ComponentKind::Workload, "chariot-0");
    let kinds: Vec<ComponentKind> = source
        .collect()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            ComponentKind::MachineId,
            ComponentKind::DmiProductUuid,
            ComponentKind::RootDisk,
            ComponentKind::Workload
        ]
    );

    // Licensed: the disk, the workload and an old host name.
    let licensed = {
        let mut l = vec![
            Component::derive(ComponentKind::RootDisk, b"naa.5002538e4095a2b1", SALT),
            Component::derive(ComponentKind::Workload, b"chariot-0", SALT),
            Component::derive(ComponentKind::Hostname, b"old-name", SALT),
        ];
        l.sort();
        l
    };
    let report = inspect(&source, SALT, Some(&licensed), 2).unwrap();
    let m = report.outcome.unwrap();
    assert_eq!((m.matched, m.licensed, m.required, m.ok), (2, 3, 2, true));
    let rows: Vec<(&str, Option<bool>)> = report
        .components
        .iter()
        .map(|c| (c.kind, c.licensed))
        .collect();
    assert_eq!(
        rows,
        [
            ("machine-id", Some(false)),
            ("dmi-product-uuid", Some(false)),
            ("root-disk", Some(true)),
            ("workload", Some(true)),
        ]
    );
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].kind, "hostname");
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"match\""));
    for secret in [
        "naa.5002538e4095a2b1",
        "chariot-0",
        "4c4c4544",
        MACHINE_ID,
        "broker-1",
    ] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    assert_eq!(
        report.components[2].digest,
        hex::encode(licensed.iter().find(|c| c.kind == 4).unwrap().digest)
    );
}
