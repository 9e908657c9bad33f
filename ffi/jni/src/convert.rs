//! Conversions: Java arguments → Rust values, and Rust results → the immutable value objects of
//! `dev.tollgate` (built by their package-private `fromNative` factories, so that the Java side
//! owns its representation, e.g. epoch seconds → `Instant`).

use jni::objects::{JByteArray, JClass, JIntArray, JObject, JObjectArray, JString, JValue};
use jni::signature::MethodSignature;
use jni::strings::JNIStr;
use jni::sys::{jint, jlong};
use jni::{jni_sig, jni_str, Env};
use tollgate_sdk::tollgate_core::ComponentKind;
use tollgate_sdk::{FeatureStatus, HostConfig, LicenseInfo, MeterReading, Status};

use crate::error::{invalid, Result};

// -- Java → Rust ------------------------------------------------------------------------------

/// A Java `String` argument as a Rust `String` (`null` is refused on the Java side already).
pub(crate) fn string(env: &Env<'_>, s: &JString<'_>) -> Result<String> {
    Ok(s.try_to_string(env)?)
}

/// A Java `byte[]` argument.
pub(crate) fn bytes(env: &Env<'_>, b: &JByteArray<'_>) -> Result<Vec<u8>> {
    Ok(env.convert_byte_array(b)?)
}

/// A Java `byte[][]` argument.
fn byte_arrays(env: &mut Env<'_>, arr: &JObjectArray<'_, JByteArray<'_>>) -> Result<Vec<Vec<u8>>> {
    let len = arr.len(env)?;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let element = arr.get_element(env, i)?;
        out.push(env.convert_byte_array(&element)?);
    }
    Ok(out)
}

/// A Java `long` that stands for an unsigned quantity (seconds, units).
pub(crate) fn unsigned(value: jlong, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| invalid(format!("{what} must not be negative")))
}

/// The fields of a Java `HostConfig`, as `Native` passes them.
pub(crate) struct ConfigArgs<'a, 'local> {
    pub product: &'a JString<'local>,
    pub product_version: &'a JString<'local>,
    pub salt: &'a JByteArray<'local>,
    pub vendor_root: &'a JByteArray<'local>,
    pub key_certificates: &'a JObjectArray<'local, JString<'local>>,
    /// `null` for none.
    pub key_list: &'a JString<'local>,
    pub component_kinds: &'a JIntArray<'local>,
    pub component_values: &'a JObjectArray<'local, JByteArray<'local>>,
    pub probes: bool,
    pub allow_override: bool,
    pub min_components: jint,
    pub warn_days: jint,
}

/// The vendor root argument: exactly 32 bytes.
pub(crate) fn vendor_root(env: &Env<'_>, root: &JByteArray<'_>) -> Result<[u8; 32]> {
    let root = bytes(env, root)?;
    <[u8; 32]>::try_from(root.as_slice()).map_err(|_| {
        invalid(format!(
            "the vendor root public key is 32 bytes, not {}",
            root.len()
        ))
    })
}

impl ConfigArgs<'_, '_> {
    /// The [`HostConfig`] these fields describe. Each component sets its kind: it replaces what
    /// the probes find of that kind (as `tollgate host --component` does).
    pub(crate) fn to_config(&self, env: &mut Env<'_>) -> Result<HostConfig> {
        let mut config = HostConfig::new(
            string(env, self.product)?,
            string(env, self.product_version)?,
            bytes(env, self.salt)?,
            vendor_root(env, self.vendor_root)?,
        );
        for i in 0..self.key_certificates.len(env)? {
            let text = self.key_certificates.get_element(env, i)?;
            config.key_certificates.push(string(env, &text)?);
        }
        if !self.key_list.is_null() {
            config.key_list = Some(string(env, self.key_list)?);
        }
        config.warn_days = u32::try_from(self.warn_days)
            .map_err(|_| invalid("the warning period must not be negative"))?;
        config.min_components = usize::try_from(self.min_components)
            .map_err(|_| invalid("the component minimum must not be negative"))?;
        config.fingerprint.probes = self.probes;
        config.fingerprint.allow_override = self.allow_override;
        let mut kinds = vec![0; self.component_kinds.len(env)?];
        self.component_kinds.get_region(env, 0, &mut kinds)?;
        let values = byte_arrays(env, self.component_values)?;
        if kinds.len() != values.len() {
            return Err(invalid("component kinds and values differ in number"));
        }
        for (kind, value) in kinds.into_iter().zip(values) {
            let kind = u8::try_from(kind)
                .ok()
                .and_then(ComponentKind::from_u8)
                .ok_or_else(|| invalid(format!("{kind} is not a fingerprint component kind")))?;
            config.fingerprint.replace.push(kind);
            config.fingerprint.extra.push((kind, value));
        }
        Ok(config)
    }
}

// -- Rust → Java ------------------------------------------------------------------------------

/// A `u64` as a Java `long` (saturating: counts and times never get near 2^63).
pub(crate) fn jlong_of(v: u64) -> jlong {
    jlong::try_from(v).unwrap_or(jlong::MAX)
}

fn jint_of(v: impl TryInto<jint>) -> jint {
    v.try_into().unwrap_or(jint::MAX)
}

/// A Java string, or `null` for `None`.
fn opt_string<'local>(env: &mut Env<'local>, s: Option<&str>) -> Result<JObject<'local>> {
    Ok(match s {
        Some(s) => env.new_string(s)?.into(),
        None => JObject::null(),
    })
}

/// A Java `Object[]` of `items` (the factories cast the elements).
fn object_array<'local>(
    env: &mut Env<'local>,
    items: Vec<JObject<'local>>,
) -> Result<JObject<'local>> {
    let array = env.new_object_array(
        jint_of(items.len()),
        jni_str!("java/lang/Object"),
        JObject::null(),
    )?;
    for (i, item) in items.iter().enumerate() {
        array.set_element(env, i, item)?;
    }
    Ok(array.into())
}

/// Calls the static factory `name` of `class` and returns the object it makes.
fn factory<'local, 'sig, 'sig_args>(
    env: &mut Env<'local>,
    class: &JNIStr,
    sig: impl AsRef<MethodSignature<'sig, 'sig_args>>,
    args: &[JValue<'_>],
) -> Result<JObject<'local>> {
    let class: JClass<'local> = env.find_class(class)?;
    Ok(env
        .call_static_method(&class, jni_str!("fromNative"), sig, args)?
        .l()?)
}

/// A time as Java `long` epoch seconds, exactly as signed (saturating at `Long.MAX_VALUE`;
/// the Java side clamps to `Instant.MAX`); `-1` for no time. Never text: a valid time may lie
/// beyond what ISO-8601 text with a four-digit year holds (SPEC.md §1).
fn secs(t: Option<u64>) -> jlong {
    t.map_or(-1, jlong_of)
}

/// Local references one value object needs besides its lists: its strings, the class and the
/// object itself. Each object is built in its own local frame of this size plus its list's
/// length, so `-Xcheck:jni` never sees more references than a frame declared.
const FRAME: usize = 16;

/// `dev.tollgate.Status`, built in its own local frame.
pub(crate) fn status<'local>(env: &mut Env<'local>, s: &Status) -> Result<JObject<'local>> {
    env.with_local_frame_returning_local::<_, JObject, _>(FRAME + s.warnings.len(), |env| {
        status_in_frame(env, s)
    })
}

fn status_in_frame<'local>(env: &mut Env<'local>, s: &Status) -> Result<JObject<'local>> {
    let state = env.new_string(s.state.name())?;
    let product = env.new_string(&s.product)?;
    let version = env.new_string(&s.product_version)?;
    let license = match &s.license {
        Some(l) => license_info(env, l)?,
        None => JObject::null(),
    };
    let mut warnings = Vec::with_capacity(s.warnings.len());
    for w in &s.warnings {
        warnings.push(env.new_string(w)?.into());
    }
    let warnings = object_array(env, warnings)?;
    let (code, name, message) = match &s.error {
        Some(e) => (
            jint_of(e.code),
            opt_string(env, Some(e.name))?,
            opt_string(env, Some(&e.message))?,
        ),
        None => (0, JObject::null(), JObject::null()),
    };
    factory(
        env,
        jni_str!("dev/tollgate/Status"),
        jni_sig!(
            "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;JZ\
             Ldev/tollgate/LicenseInfo;[Ljava/lang/Object;ILjava/lang/String;Ljava/lang/String;)\
             Ldev/tollgate/Status;"
        ),
        &[
            JValue::Object(&state),
            JValue::Object(&product),
            JValue::Object(&version),
            JValue::Long(jlong_of(s.checked_at_secs)),
            JValue::Bool(s.pending_request),
            JValue::Object(&license),
            JValue::Object(&warnings),
            JValue::Int(code),
            JValue::Object(&name),
            JValue::Object(&message),
        ],
    )
}

/// `dev.tollgate.FeatureStatus`, built in its own local frame.
fn feature<'local>(env: &mut Env<'local>, f: &FeatureStatus) -> Result<JObject<'local>> {
    env.with_local_frame_returning_local::<_, JObject, _>(FRAME, |env| {
        let name = env.new_string(&f.name)?;
        let kind = env.new_string(f.kind)?;
        let period = opt_string(env, f.period)?;
        factory(
            env,
            jni_str!("dev/tollgate/FeatureStatus"),
            jni_sig!(
                "(Ljava/lang/String;Ljava/lang/String;JZZJLjava/lang/String;ZJ)\
                 Ldev/tollgate/FeatureStatus;"
            ),
            &[
                JValue::Object(&name),
                JValue::Object(&kind),
                JValue::Long(secs(f.expires_at_secs)),
                JValue::Bool(f.active),
                JValue::Bool(f.quota.is_some()),
                JValue::Long(jlong_of(f.quota.unwrap_or(0))),
                JValue::Object(&period),
                JValue::Bool(f.used.is_some()),
                JValue::Long(jlong_of(f.used.unwrap_or(0))),
            ],
        )
    })
}

/// `dev.tollgate.LicenseInfo`, built in its own local frame.
pub(crate) fn license_info<'local>(
    env: &mut Env<'local>,
    l: &LicenseInfo,
) -> Result<JObject<'local>> {
    env.with_local_frame_returning_local::<_, JObject, _>(FRAME + l.features.len(), |env| {
        license_info_in_frame(env, l)
    })
}

fn license_info_in_frame<'local>(
    env: &mut Env<'local>,
    l: &LicenseInfo,
) -> Result<JObject<'local>> {
    let customer = env.new_string(&l.customer)?;
    let product = env.new_string(&l.product)?;
    let model = env.new_string(l.deployment_model)?;
    let mut features = Vec::with_capacity(l.features.len());
    for f in &l.features {
        features.push(feature(env, f)?);
    }
    let features = object_array(env, features)?;
    let key_id = env.new_string(&l.vendor_key_id)?;
    let fp = l.fingerprint;
    let t = l.times;
    factory(
        env,
        jni_str!("dev/tollgate/LicenseInfo"),
        jni_sig!(
            "(JLjava/lang/String;Ljava/lang/String;IJLjava/lang/String;JJJJJ\
             [Ljava/lang/Object;IIIZLjava/lang/String;)Ldev/tollgate/LicenseInfo;"
        ),
        &[
            JValue::Long(jlong_of(l.license_id)),
            JValue::Object(&customer),
            JValue::Object(&product),
            JValue::Int(jint_of(l.revision)),
            JValue::Long(jlong_of(l.activation_id)),
            JValue::Object(&model),
            JValue::Long(jlong_of(t.issued_at)),
            JValue::Long(secs(t.installed_at)),
            JValue::Long(secs(t.valid_from)),
            JValue::Long(secs(t.valid_until)),
            JValue::Long(secs(t.refresh_deadline)),
            JValue::Object(&features),
            JValue::Int(jint_of(fp.matched)),
            JValue::Int(jint_of(fp.licensed)),
            JValue::Int(jint_of(fp.required)),
            JValue::Bool(fp.ok),
            JValue::Object(&key_id),
        ],
    )
}

/// `dev.tollgate.MeterReading`.
pub(crate) fn meter_reading<'local>(
    env: &mut Env<'local>,
    m: &MeterReading,
) -> Result<JObject<'local>> {
    let feature = env.new_string(&m.feature)?;
    let period = env.new_string(m.period)?;
    factory(
        env,
        jni_str!("dev/tollgate/MeterReading"),
        jni_sig!("(Ljava/lang/String;Ljava/lang/String;JJJJJ)Ldev/tollgate/MeterReading;"),
        &[
            JValue::Object(&feature),
            JValue::Object(&period),
            JValue::Long(jlong_of(m.period_start)),
            JValue::Long(jlong_of(m.period_end)),
            JValue::Long(jlong_of(m.used)),
            JValue::Long(jlong_of(m.quota)),
            JValue::Long(jlong_of(m.remaining)),
        ],
    )
}

/// `dev.tollgate.HostConfig` (as read from a host configuration file: default probes).
pub(crate) fn host_config<'local>(
    env: &mut Env<'local>,
    c: &HostConfig,
) -> Result<JObject<'local>> {
    env.with_local_frame_returning_local::<_, JObject, _>(FRAME + c.key_certificates.len(), |env| {
        host_config_in_frame(env, c)
    })
}

fn host_config_in_frame<'local>(env: &mut Env<'local>, c: &HostConfig) -> Result<JObject<'local>> {
    let product = env.new_string(&c.product)?;
    let version = env.new_string(&c.product_version)?;
    let salt = env.byte_array_from_slice(&c.fingerprint_salt)?;
    let root = env.byte_array_from_slice(&c.vendor_root)?;
    let mut certs = Vec::with_capacity(c.key_certificates.len());
    for t in &c.key_certificates {
        certs.push(env.new_string(t)?.into());
    }
    let certs = object_array(env, certs)?;
    let key_list = opt_string(env, c.key_list.as_deref())?;
    factory(
        env,
        jni_str!("dev/tollgate/HostConfig"),
        jni_sig!("(Ljava/lang/String;Ljava/lang/String;[B[B[Ljava/lang/Object;Ljava/lang/String;II)Ldev/tollgate/HostConfig;"),
        &[
            JValue::Object(&product),
            JValue::Object(&version),
            JValue::Object(&salt),
            JValue::Object(&root),
            JValue::Object(&certs),
            JValue::Object(&key_list),
            JValue::Int(jint_of(c.min_components)),
            JValue::Int(jint_of(c.warn_days)),
        ],
    )
}
