//! Fingerprint probes: where the host's identifiers come from.
//!
//! A [`FingerprintSource`] returns raw identifiers (a machine id, MAC addresses, a disk serial…).
//! They are only ever fed into [`Component::derive`] with the product's salt; the runtime never
//! stores, logs or prints them. What leaves the host is the salted 8-byte digests.
//!
//! Sources compose: [`Composite`] (or [`FingerprintConfig`]) lets the host application add its
//! own components (a container or workload id, a cloud instance id, an operator-supplied id) and
//! replace probed kinds that are unstable in its environment.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tollgate_core::fingerprint::MAX_COMPONENTS;
use tollgate_core::{Component, ComponentKind, Fingerprint};
use zeroize::Zeroize;

use crate::error::{Result, SdkError};

/// Most MAC addresses the probes contribute, so that the total stays within the format limit.
pub const MAX_MACS: usize = 6;

/// Domain string of the application-specific machine-id transform.
const MACHINE_ID_DOMAIN: &[u8] = b"tollgate/v1/machine-id\0";

/// A source of raw host identifiers.
pub trait FingerprintSource: Send + Sync {
    /// Collects the identifiers, as (kind, raw bytes) pairs. The raw bytes are secret-ish: they
    /// are only passed to [`Component::derive`].
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>>;
}

impl<S: FingerprintSource + ?Sized> FingerprintSource for Box<S> {
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
        (**self).collect()
    }
}

/// Computes the host's fingerprint: collects from `source` and derives each component with the
/// product's `salt`. Raw values are wiped after use.
///
/// Fails with [`SdkError::Fingerprint`] when the source fails, finds nothing, or finds more than
/// the format's 16 distinct components.
pub fn compute(source: &dyn FingerprintSource, salt: &[u8]) -> Result<Fingerprint> {
    let mut raw = source.collect()?;
    let components: Vec<Component> = raw
        .iter()
        .map(|(kind, value)| Component::derive(*kind, value, salt))
        .collect();
    for (_, value) in raw.iter_mut() {
        value.zeroize();
    }
    if components.is_empty() {
        return Err(SdkError::fingerprint("no host identifier could be read"));
    }
    Fingerprint::from_components(components).map_err(|_| {
        SdkError::fingerprint(format!(
            "more than {MAX_COMPONENTS} distinct components; add fewer extra components"
        ))
    })
}

/// HMAC-SHA256 of a machine id keyed by the application key (the product salt), as systemd
/// recommends: the machine id itself never leaves the probe, even salted.
pub fn app_specific_id(app_key: &[u8], machine_id: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(app_key) {
        Ok(mut mac) => {
            mac.update(MACHINE_ID_DOMAIN);
            mac.update(machine_id);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        Err(_) => machine_id.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Static and composite sources
// ---------------------------------------------------------------------------------------------

/// A fixed list of identifiers: for tests, and for operators who pin a host's identity.
#[derive(Clone, Default)]
pub struct StaticSource {
    components: Vec<(ComponentKind, Vec<u8>)>,
}

impl StaticSource {
    /// A source that always returns `components`.
    pub fn new(components: Vec<(ComponentKind, Vec<u8>)>) -> Self {
        StaticSource { components }
    }

    /// Convenience: a source from string identifiers.
    pub fn from_strs(components: &[(ComponentKind, &str)]) -> Self {
        Self::new(
            components
                .iter()
                .map(|(k, v)| (*k, v.as_bytes().to_vec()))
                .collect(),
        )
    }
}

impl fmt::Debug for StaticSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.components.iter().map(|(k, _)| k.name()))
            .finish()
    }
}

impl FingerprintSource for StaticSource {
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
        Ok(self.components.clone())
    }
}

/// A source that is no source: collects nothing. Combined with [`Composite::add`] it gives a
/// fingerprint made only of application-supplied components.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProbes;

impl FingerprintSource for NoProbes {
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
        Ok(Vec::new())
    }
}

/// A base source (usually the platform probes) with components removed by kind and
/// application-supplied components added.
///
/// ```
/// use tollgate_core::ComponentKind;
/// use tollgate_sdk::fingerprint::{Composite, FingerprintSource, StaticSource};
///
/// let probes = StaticSource::from_strs(&[
///     (ComponentKind::MachineId, "m"),
///     (ComponentKind::Hostname, "pod-7f9c"),
/// ]);
/// // In Kubernetes the host name changes with each pod: use the workload id instead.
/// let source = Composite::new(Box::new(probes))
///     .replace(ComponentKind::Hostname)
///     .add(ComponentKind::Workload, "chariot-broker-statefulset-0");
/// let kinds: Vec<_> = source.collect()?.into_iter().map(|(k, _)| k).collect();
/// assert_eq!(kinds, [ComponentKind::MachineId, ComponentKind::Workload]);
/// # Ok::<(), tollgate_sdk::SdkError>(())
/// ```
pub struct Composite {
    base: Box<dyn FingerprintSource>,
    replace: Vec<ComponentKind>,
    extra: Vec<(ComponentKind, Vec<u8>)>,
}

impl Composite {
    /// Starts from `base`.
    pub fn new(base: Box<dyn FingerprintSource>) -> Self {
        Composite {
            base,
            replace: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Drops every component of `kind` that the base source finds (components added with
    /// [`Composite::add`] are kept).
    pub fn replace(mut self, kind: ComponentKind) -> Self {
        if !self.replace.contains(&kind) {
            self.replace.push(kind);
        }
        self
    }

    /// Adds a component.
    pub fn add(mut self, kind: ComponentKind, raw: impl Into<Vec<u8>>) -> Self {
        self.extra.push((kind, raw.into()));
        self
    }

    /// Replaces every probed component of `kind` with this one.
    pub fn set(self, kind: ComponentKind, raw: impl Into<Vec<u8>>) -> Self {
        self.replace(kind).add(kind, raw)
    }
}

impl fmt::Debug for Composite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Composite")
            .field("replace", &self.replace)
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl FingerprintSource for Composite {
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
        let mut out: Vec<(ComponentKind, Vec<u8>)> = self
            .base
            .collect()?
            .into_iter()
            .filter(|(k, _)| !self.replace.contains(k))
            .collect();
        out.extend(self.extra.iter().cloned());
        Ok(out)
    }
}

/// How the host application wants its fingerprint built; part of [`crate::HostConfig`].
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintConfig {
    /// Whether to run the platform probes ([`system_probes`]). Default: `true`.
    pub probes: bool,
    /// Components the application adds (container/workload id, cloud instance id, operator id).
    pub extra: Vec<(ComponentKind, Vec<u8>)>,
    /// Probed kinds to drop (e.g. [`ComponentKind::Hostname`] where host names are ephemeral).
    pub replace: Vec<ComponentKind>,
    /// Opt-in to supplying components of a kind the probes read (machine-id, dmi-product-uuid,
    /// mac, root-disk, hostname) in [`FingerprintConfig::extra`]: such a value claims an
    /// identity instead of measuring it. For tests and documented escape hatches only
    /// (`tollgate host --allow-override`); without it the manager refuses to open
    /// ([`SdkError::ComponentOverride`]). Default: `false`.
    pub allow_override: bool,
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        FingerprintConfig {
            probes: true,
            extra: Vec::new(),
            replace: Vec::new(),
            allow_override: false,
        }
    }
}

impl fmt::Debug for FingerprintConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintConfig")
            .field("probes", &self.probes)
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k.name()).collect::<Vec<_>>(),
            )
            .field("replace", &self.replace)
            .field("allow_override", &self.allow_override)
            .finish()
    }
}

impl FingerprintConfig {
    /// Builds the source this configuration describes; `app_key` keys the machine-id transform
    /// (pass the product's fingerprint salt).
    pub fn into_source(self, app_key: &[u8]) -> Box<dyn FingerprintSource> {
        let base: Box<dyn FingerprintSource> = if self.probes {
            system_probes(app_key)
        } else {
            Box::new(NoProbes)
        };
        let mut c = Composite::new(base);
        for k in self.replace {
            c = c.replace(k);
        }
        for (k, v) in self.extra {
            c = c.add(k, v);
        }
        Box::new(c)
    }
}

/// The probes of the platform this was compiled for: [`LinuxProbes`] on Linux, `reg query` of
/// `MachineGuid` on Windows, `ioreg` `IOPlatformUUID` on macOS; elsewhere a source that fails
/// with [`SdkError::Fingerprint`] (supply components with [`Composite`]).
pub fn system_probes(app_key: &[u8]) -> Box<dyn FingerprintSource> {
    #[cfg(target_os = "linux")]
    {
        Box::new(LinuxProbes::new(app_key))
    }
    #[cfg(target_os = "windows")]
    {
        Box::new(windows::WindowsProbes::new(app_key))
    }
    #[cfg(target_os = "macos")]
    {
        Box::new(macos::MacProbes::new(app_key))
    }
    #[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
    {
        let _ = app_key;
        Box::new(Unsupported)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
struct Unsupported;

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
impl FingerprintSource for Unsupported {
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
        Err(SdkError::fingerprint(
            "no probes for this platform: supply components in the fingerprint configuration",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Linux
// ---------------------------------------------------------------------------------------------

/// The Linux probes. They read, under a configurable root (`/` by default, a fake tree in
/// tests):
///
/// | kind | source |
/// |---|---|
/// | machine-id | `/etc/machine-id`, else `/var/lib/dbus/machine-id` (32 hex digits), then [`app_specific_id`] |
/// | dmi-product-uuid | `/sys/class/dmi/id/product_uuid` when readable (usually root only), lower-cased, placeholder values skipped |
/// | mac | `/sys/class/net/*/address` of interfaces with a `device` link (physical), not random (`addr_assign_type` 1), not all-zero; bond members report `bonding_slave/perm_hwaddr`; at most [`MAX_MACS`], smallest first |
/// | root-disk | the block device of `/` from `/proc/self/mountinfo` → `/sys/dev/block/MAJ:MIN` → its disk → `wwid`, `device/wwid`, `serial`, `device/serial` or `dm/uuid`; else the file-system UUID from `/dev/disk/by-uuid` |
/// | hostname | `/proc/sys/kernel/hostname`, lower-cased |
///
/// Any probe that cannot read its file is skipped; only finding nothing at all is an error.
/// Although meant for Linux, it is plain file reading and compiles everywhere.
#[derive(Clone)]
pub struct LinuxProbes {
    root: PathBuf,
    app_key: Vec<u8>,
}

impl fmt::Debug for LinuxProbes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinuxProbes")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// DMI UUIDs that firmware vendors fill in when they have none.
const PLACEHOLDER_UUIDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
    "00020003-0004-0005-0006-000700080009",
];

fn read_trimmed(path: &Path) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Parses `aa:bb:cc:dd:ee:ff` (any number of colon-separated hex octets).
fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let bytes: Option<Vec<u8>> = s
        .split(':')
        .map(|octet| {
            if octet.len() == 2 {
                u8::from_str_radix(octet, 16).ok()
            } else {
                None
            }
        })
        .collect();
    bytes.filter(|b| b.len() >= 6 && b.iter().any(|x| *x != 0))
}

/// Finds the `/` mount in mountinfo text: its `major:minor` and its mount source.
fn parse_root_mount(mountinfo: &str) -> Option<(String, String)> {
    let mut found = None;
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if let (Some(&majmin), Some(&"/"), Some(&source)) = (pre.get(2), pre.get(4), post.get(1)) {
            // Later lines mount over earlier ones: the last `/` wins.
            found = Some((majmin.to_owned(), source.to_owned()));
        }
    }
    found
}

impl LinuxProbes {
    /// Probes of the real system (root `/`); `app_key` keys the machine-id transform.
    pub fn new(app_key: &[u8]) -> Self {
        Self::with_root("/", app_key)
    }

    /// Probes of the tree under `root`, e.g. a fake `/etc`, `/sys`, `/proc` in a test.
    pub fn with_root(root: impl Into<PathBuf>, app_key: &[u8]) -> Self {
        LinuxProbes {
            root: root.into(),
            app_key: app_key.to_vec(),
        }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    fn machine_id(&self) -> Option<Vec<u8>> {
        ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .filter_map(|p| read_trimmed(&self.path(p)))
            .find_map(|s| {
                let id = hex::decode(s.to_ascii_lowercase()).ok()?;
                (id.len() == 16 && id.iter().any(|b| *b != 0)).then_some(id)
            })
            .map(|mut id| {
                let out = app_specific_id(&self.app_key, &id);
                id.zeroize();
                out
            })
    }

    fn dmi_uuid(&self) -> Option<Vec<u8>> {
        let u = read_trimmed(&self.path("/sys/class/dmi/id/product_uuid"))?.to_ascii_lowercase();
        (!PLACEHOLDER_UUIDS.contains(&u.as_str())).then(|| u.into_bytes())
    }

    fn macs(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = fs::read_dir(self.path("/sys/class/net")) else {
            return Vec::new();
        };
        let mut macs: Vec<Vec<u8>> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                if name == "lo" {
                    return None;
                }
                let p = e.path();
                fs::symlink_metadata(p.join("device")).ok()?;
                if fs::canonicalize(&p)
                    .is_ok_and(|real| real.to_string_lossy().contains("/devices/virtual/"))
                {
                    return None;
                }
                if read_trimmed(&p.join("addr_assign_type")).as_deref() == Some("1") {
                    return None;
                }
                read_trimmed(&p.join("bonding_slave/perm_hwaddr"))
                    .or_else(|| read_trimmed(&p.join("address")))
                    .and_then(|a| parse_mac(&a.to_ascii_lowercase()))
            })
            .collect();
        macs.sort_unstable();
        macs.dedup();
        macs.truncate(MAX_MACS);
        macs
    }

    fn root_disk(&self) -> Option<Vec<u8>> {
        let mountinfo = fs::read_to_string(self.path("/proc/self/mountinfo")).ok()?;
        let (majmin, source) = parse_root_mount(&mountinfo)?;
        self.disk_id(&majmin)
            .or_else(|| self.fs_uuid(&source))
            .map(String::into_bytes)
    }

    fn disk_id(&self, majmin: &str) -> Option<String> {
        if majmin.contains('/') || majmin.contains("..") {
            return None;
        }
        let dev = fs::canonicalize(self.path("/sys/dev/block").join(majmin)).ok()?;
        let disk = if dev.join("partition").exists() {
            dev.parent()?.to_path_buf()
        } else {
            dev
        };
        ["wwid", "device/wwid", "serial", "device/serial", "dm/uuid"]
            .iter()
            .find_map(|rel| read_trimmed(&disk.join(rel)))
    }

    fn fs_uuid(&self, source: &str) -> Option<String> {
        let rel = source.strip_prefix("/dev/")?;
        if rel.contains("..") {
            return None;
        }
        let target = fs::canonicalize(self.path("/dev").join(rel)).ok()?;
        let mut uuids: Vec<String> = fs::read_dir(self.path("/dev/disk/by-uuid"))
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| fs::canonicalize(e.path()).is_ok_and(|p| p == target))
            .map(|e| e.file_name().to_string_lossy().to_ascii_lowercase())
            .collect();
        uuids.sort_unstable();
        uuids.into_iter().next()
    }

    fn hostname(&self) -> Option<Vec<u8>> {
        let h = read_trimmed(&self.path("/proc/sys/kernel/hostname"))?.to_ascii_lowercase();
        (h != "localhost" && h != "(none)").then(|| h.into_bytes())
    }
}

impl FingerprintSource for LinuxProbes {
    fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
        let mut out = Vec::new();
        if let Some(id) = self.machine_id() {
            out.push((ComponentKind::MachineId, id));
        }
        if let Some(u) = self.dmi_uuid() {
            out.push((ComponentKind::DmiProductUuid, u));
        }
        for mac in self.macs() {
            out.push((ComponentKind::Mac, mac));
        }
        if let Some(d) = self.root_disk() {
            out.push((ComponentKind::RootDisk, d));
        }
        if let Some(h) = self.hostname() {
            out.push((ComponentKind::Hostname, h));
        }
        if out.is_empty() {
            return Err(SdkError::fingerprint(
                "no host identifier could be read (machine-id, DMI, network, disk, host name)",
            ));
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Windows and macOS (command output parsers are plain functions, tested on every platform)
// ---------------------------------------------------------------------------------------------

/// Extracts `MachineGuid` from the output of
/// `reg query HKLM\SOFTWARE\Microsoft\Cryptography /v MachineGuid`.
pub fn parse_reg_query(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some("REG_SZ"), Some(value))
                if name.eq_ignore_ascii_case("MachineGuid") =>
            {
                Some(value.to_ascii_lowercase())
            }
            _ => None,
        }
    })
}

/// Extracts `IOPlatformUUID` from the output of `ioreg -rd1 -c IOPlatformExpertDevice`.
pub fn parse_ioreg(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != "\"IOPlatformUUID\"" {
            return None;
        }
        let v = value.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_ascii_lowercase())
    })
}

#[cfg(any(target_os = "windows", target_os = "macos"))]
fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| SdkError::fingerprint(format!("could not run {program}: {}", e.kind())))?;
    if !out.status.success() {
        return Err(SdkError::fingerprint(format!("{program} failed")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(target_os = "windows")]
mod windows {
    use super::*;

    /// Windows: the `MachineGuid` (through [`app_specific_id`]) and the computer name.
    pub struct WindowsProbes {
        app_key: Vec<u8>,
    }

    impl WindowsProbes {
        pub fn new(app_key: &[u8]) -> Self {
            WindowsProbes {
                app_key: app_key.to_vec(),
            }
        }
    }

    impl FingerprintSource for WindowsProbes {
        fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
            let reg = std::env::var("SystemRoot")
                .map(|r| format!(r"{r}\System32\reg.exe"))
                .unwrap_or_else(|_| "reg.exe".into());
            let text = run(
                &reg,
                &[
                    "query",
                    r"HKLM\SOFTWARE\Microsoft\Cryptography",
                    "/v",
                    "MachineGuid",
                ],
            )?;
            let guid = parse_reg_query(&text)
                .ok_or_else(|| SdkError::fingerprint("MachineGuid not found"))?;
            let mut out = vec![(
                ComponentKind::MachineId,
                app_specific_id(&self.app_key, guid.as_bytes()),
            )];
            if let Ok(name) = std::env::var("COMPUTERNAME") {
                if !name.is_empty() {
                    out.push((
                        ComponentKind::Hostname,
                        name.to_ascii_lowercase().into_bytes(),
                    ));
                }
            }
            Ok(out)
        }
    }
}

#[cfg(target_os = "macos")]
mod macos {
    use super::*;

    /// macOS: the `IOPlatformUUID` (through [`app_specific_id`]) and the host name.
    pub struct MacProbes {
        app_key: Vec<u8>,
    }

    impl MacProbes {
        pub fn new(app_key: &[u8]) -> Self {
            MacProbes {
                app_key: app_key.to_vec(),
            }
        }
    }

    impl FingerprintSource for MacProbes {
        fn collect(&self) -> Result<Vec<(ComponentKind, Vec<u8>)>> {
            let text = run("/usr/sbin/ioreg", &["-rd1", "-c", "IOPlatformExpertDevice"])?;
            let uuid = parse_ioreg(&text)
                .ok_or_else(|| SdkError::fingerprint("IOPlatformUUID not found"))?;
            let mut out = vec![(
                ComponentKind::MachineId,
                app_specific_id(&self.app_key, uuid.as_bytes()),
            )];
            if let Ok(h) = run("/bin/hostname", &[]) {
                let h = h.trim().to_ascii_lowercase();
                if !h.is_empty() {
                    out.push((ComponentKind::Hostname, h.into_bytes()));
                }
            }
            Ok(out)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------------

/// One component in a [`FingerprintReport`]: its kind and salted digest, never its raw value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentReport {
    /// The kind's name, e.g. `mac`.
    pub kind: &'static str,
    /// The kind's wire byte.
    pub kind_code: u8,
    /// The 8-byte digest, lower-case hex.
    pub digest: String,
    /// Whether the licensed set holds this component (`None` when no licensed set was given).
    pub licensed: Option<bool>,
}

/// The k-of-n outcome in a [`FingerprintReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MatchReport {
    /// Licensed components present on this host.
    pub matched: usize,
    /// Components the license lists.
    pub licensed: usize,
    /// Components that must match.
    pub required: usize,
    /// Whether enough match.
    pub ok: bool,
}

/// What the host's fingerprint is made of and how it matches a license: for support
/// conversations ("which component changed?"). Holds digests only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FingerprintReport {
    /// The host's components, sorted.
    pub components: Vec<ComponentReport>,
    /// Licensed components not found on this host (empty when no licensed set was given).
    pub missing: Vec<ComponentReport>,
    /// The match outcome, when a licensed set was given.
    #[serde(rename = "match")]
    pub outcome: Option<MatchReport>,
}

fn report_of(c: &Component, licensed: Option<bool>) -> ComponentReport {
    ComponentReport {
        kind: ComponentKind::from_u8(c.kind).map_or("unknown", ComponentKind::name),
        kind_code: c.kind,
        digest: hex::encode(c.digest),
        licensed,
    }
}

impl FingerprintReport {
    /// Reports `host` against the `licensed` components with threshold `k`.
    pub fn new(host: &Fingerprint, licensed: Option<&[Component]>, k: u8) -> Self {
        let components = host
            .components()
            .iter()
            .map(|c| report_of(c, licensed.map(|l| l.contains(c))))
            .collect();
        let missing = licensed
            .unwrap_or(&[])
            .iter()
            .filter(|c| !host.components().contains(c))
            .map(|c| report_of(c, Some(true)))
            .collect();
        let outcome = licensed.map(|l| {
            let d = host.match_against(l, k);
            MatchReport {
                matched: d.matched,
                licensed: d.licensed,
                required: d.required,
                ok: d.ok(),
            }
        });
        FingerprintReport {
            components,
            missing,
            outcome,
        }
    }
}

/// Computes the host's fingerprint from `source` and reports it against `licensed` (the
/// components a usage license lists) with threshold `k`.
pub fn inspect(
    source: &dyn FingerprintSource,
    salt: &[u8],
    licensed: Option<&[Component]>,
    k: u8,
) -> Result<FingerprintReport> {
    Ok(FingerprintReport::new(&compute(source, salt)?, licensed, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let text = "\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
23 22 0:21 / /proc rw - proc proc rw
24 22 8:1 / /boot rw - vfat /dev/sda1 rw
";
        assert_eq!(
            parse_root_mount(text),
            Some(("8:2".into(), "/dev/sda2".into()))
        );
        assert_eq!(parse_root_mount("garbage\n"), None);
    }

    #[test]
    fn parses_macs() {
        assert_eq!(
            parse_mac("52:54:00:12:34:56"),
            Some(vec![0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_mac("00:00:00:00:00:00"), None);
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("5254.0012.3456"), None);
    }

    #[test]
    fn parses_windows_and_macos_output() {
        let reg = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    MachineGuid    REG_SZ    6F1A2B3C-0000-4D5E-8F90-ABCDEF012345\r\n\r\n";
        assert_eq!(
            parse_reg_query(reg).as_deref(),
            Some("6f1a2b3c-0000-4d5e-8f90-abcdef012345")
        );
        assert_eq!(parse_reg_query("ERROR: not found"), None);
        let ioreg = r#"+-o J314sAP  <class IOPlatformExpertDevice, id 0x100000213>
    {
      "IOPlatformSerialNumber" = "C02XXXXXXX"
      "IOPlatformUUID" = "1B6D0D4E-7A0E-5C8E-9F5B-2E8A1C3D4F5A"
    }"#;
        assert_eq!(
            parse_ioreg(ioreg).as_deref(),
            Some("1b6d0d4e-7a0e-5c8e-9f5b-2e8a1c3d4f5a")
        );
        assert_eq!(parse_ioreg("{}"), None);
    }

    #[test]
    fn compute_rejects_empty_and_oversized() {
        let e = compute(&NoProbes, b"s").unwrap_err();
        assert_eq!(e.code(), 210);
        let many: Vec<(ComponentKind, Vec<u8>)> = (0..17u8)
            .map(|i| (ComponentKind::Operator, vec![i]))
            .collect();
        assert_eq!(
            compute(&StaticSource::new(many), b"s").unwrap_err().code(),
            210
        );
    }

    #[test]
    fn debug_never_shows_raw_values() {
        let s = StaticSource::from_strs(&[(ComponentKind::Hostname, "secret-host")]);
        let c = Composite::new(Box::new(s.clone())).add(ComponentKind::Operator, "op-secret");
        let cfg = FingerprintConfig {
            extra: vec![(ComponentKind::Workload, b"wl-secret".to_vec())],
            ..Default::default()
        };
        for text in [format!("{s:?}"), format!("{c:?}"), format!("{cfg:?}")] {
            assert!(!text.contains("secret"), "{text}");
        }
    }
}
