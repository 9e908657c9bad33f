package dev.tollgate;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One row of the table of stable result codes (the Rust {@code tollgate_sdk::all_errors()}),
 * and the codes as constants. Codes 100–199 are the core's (formats, signatures, validity, the
 * trust chain), 200–217 the host runtime's, 230–234 the online activation client's, 235–239 the
 * runtime's trust and host policy (the configuration names a key, fingerprint minimum, deployment
 * model), 240–241 an online call cancelled or overtaken by another change, 255–256 the metered
 * usage journal (a full outbox, an acknowledgement ahead of it), 260–261 the
 * marketplace client's (cloud metadata service), 300 and up the services' refusals (380–387
 * marketplace activation). A code never changes meaning; a retired code stays reserved.
 *
 * @param code the stable numeric code
 * @param name the stable name, e.g. {@code "KeyChecksum"}
 * @param message a short, stable, human-readable message
 */
public record ErrorCode(int code, String name, String message) {
    /** 100 ArmorPrefix. */
    public static final int ARMOR_PREFIX = 100;

    /** 101 ArmorEncoding. */
    public static final int ARMOR_ENCODING = 101;

    /** 102 ArmorChecksum. */
    public static final int ARMOR_CHECKSUM = 102;

    /** 103 WrongArtifactType. */
    public static final int WRONG_ARTIFACT_TYPE = 103;

    /** 104 BadMagic. */
    public static final int BAD_MAGIC = 104;

    /** 105 UnknownVersion. */
    public static final int UNKNOWN_VERSION = 105;

    /** 106 RetiredVersion. */
    public static final int RETIRED_VERSION = 106;

    /** 107 Truncated. */
    public static final int TRUNCATED = 107;

    /** 108 Malformed. */
    public static final int MALFORMED = 108;

    /** 109 TooLarge. */
    public static final int TOO_LARGE = 109;

    /** 110 UnknownKeyId. */
    public static final int UNKNOWN_KEY_ID = 110;

    /** 111 BadSignature. */
    public static final int BAD_SIGNATURE = 111;

    /** 112 WrongProduct. */
    public static final int WRONG_PRODUCT = 112;

    /** 113 FingerprintMismatch. */
    public static final int FINGERPRINT_MISMATCH = 113;

    /** 114 NotYetValid. */
    public static final int NOT_YET_VALID = 114;

    /** 115 Expired. */
    public static final int EXPIRED = 115;

    /** 116 RefreshOverdue. */
    public static final int REFRESH_OVERDUE = 116;

    /** 117 KeyFormat. */
    public static final int KEY_FORMAT = 117;

    /** 118 KeyChecksum. */
    public static final int KEY_CHECKSUM = 118;

    /** 119 BadPublicKey. */
    public static final int BAD_PUBLIC_KEY = 119;

    /** 120 LimitExceeded. */
    public static final int LIMIT_EXCEEDED = 120;

    /** 121 LeaseWrongClient. */
    public static final int LEASE_WRONG_CLIENT = 121;

    /** 122 LeaseNotGranted. */
    public static final int LEASE_NOT_GRANTED = 122;

    /** 123 LeaseExpired. */
    public static final int LEASE_EXPIRED = 123;

    /** 124 KeyNotCertified. */
    public static final int KEY_NOT_CERTIFIED = 124;

    /** 125 KeyRetired. */
    public static final int KEY_RETIRED = 125;

    /** 126 StaleKeyList. */
    public static final int STALE_KEY_LIST = 126;

    /** 127 OutsideKeyValidity. */
    public static final int OUTSIDE_KEY_VALIDITY = 127;

    /** 128 LeaseNonceMismatch. */
    public static final int LEASE_NONCE_MISMATCH = 128;

    /** 130 UsageChainStart. */
    public static final int USAGE_CHAIN_START = 130;

    /** 131 UsageTooManyEntries. */
    public static final int USAGE_TOO_MANY_ENTRIES = 131;

    /** 132 UsageDuplicateEntry. */
    public static final int USAGE_DUPLICATE_ENTRY = 132;

    /** 133 UsageBadEntry. */
    public static final int USAGE_BAD_ENTRY = 133;

    /** 134 UsageDeviceMismatch. */
    public static final int USAGE_DEVICE_MISMATCH = 134;

    /** 200 NotActivated. */
    public static final int NOT_ACTIVATED = 200;

    /** 201 NoPendingRequest. */
    public static final int NO_PENDING_REQUEST = 201;

    /** 202 SupersededRequest. */
    public static final int SUPERSEDED_REQUEST = 202;

    /** 203 WrongDevice. */
    public static final int WRONG_DEVICE = 203;

    /** 204 Deactivated. */
    public static final int DEACTIVATED = 204;

    /** 205 ClockRollback. */
    public static final int CLOCK_ROLLBACK = 205;

    /** 206 Storage. */
    public static final int STORAGE = 206;

    /** 207 CorruptState. */
    public static final int CORRUPT_STATE = 207;

    /** 208 QuotaExceeded. */
    public static final int QUOTA_EXCEEDED = 208;

    /** 209 UnknownFeature. */
    public static final int UNKNOWN_FEATURE = 209;

    /** 210 Fingerprint. */
    public static final int FINGERPRINT = 210;

    /** 211 InvalidArgument. */
    public static final int INVALID_ARGUMENT = 211;

    /** 212 AlreadyActivated. */
    public static final int ALREADY_ACTIVATED = 212;

    /** 213 StateLocked. */
    public static final int STATE_LOCKED = 213;

    /** 214 NotMetered. */
    public static final int NOT_METERED = 214;

    /** 215 UnknownRequest. */
    public static final int UNKNOWN_REQUEST = 215;

    /** 216 Entropy. */
    public static final int ENTROPY = 216;

    /** 217 UnsupportedStateVersion. */
    public static final int UNSUPPORTED_STATE_VERSION = 217;

    /** 230 ServiceUnreachable. */
    public static final int SERVICE_UNREACHABLE = 230;

    /** 231 ServiceRefused. */
    public static final int SERVICE_REFUSED = 231;

    /** 232 ServiceUnavailable. */
    public static final int SERVICE_UNAVAILABLE = 232;

    /** 233 RateLimited. */
    public static final int RATE_LIMITED = 233;

    /** 234 BadResponse. */
    public static final int BAD_RESPONSE = 234;

    /** 235 UntrustedConfig: the host configuration names keys, a root or security policy. */
    public static final int UNTRUSTED_CONFIG = 235;

    /** 236 NoVendorRoot: a build without a vendor root (the Java API always takes one). */
    public static final int NO_VENDOR_ROOT = 236;

    /** 237 TooFewComponents: too few distinct fingerprint components for a usage request. */
    public static final int TOO_FEW_COMPONENTS = 237;

    /** 238 ComponentOverride: a probed component kind is supplied without the opt-in. */
    public static final int COMPONENT_OVERRIDE = 238;

    /** 239 WrongModel: the usage license's deployment model does not fit this host. */
    public static final int WRONG_MODEL = 239;

    /**
     * 240 Cancelled: an online call was cancelled ({@link OnlineClient#cancel()}, or the manager
     * was closed while it waited); nothing changed on this host.
     */
    public static final int CANCELLED = 240;

    /**
     * 241 StateChanged: the license state changed while an online call waited for the service;
     * its answer was not applied and nothing changed because of the call.
     */
    public static final int STATE_CHANGED = 241;

    /**
     * 255 UsageOutboxFull: the usage outbox holds the most unacknowledged usage reports; send
     * the usage journal to the vendor. Units keep accruing.
     */
    public static final int USAGE_OUTBOX_FULL = 255;

    /** 256 UsageAckAhead: a usage acknowledgement covers reports this host never made. */
    public static final int USAGE_ACK_AHEAD = 256;

    /** 260 MetadataUnreachable: the cloud metadata service could not be reached (marketplace). */
    public static final int METADATA_UNREACHABLE = 260;

    /** 261 BadMetadata: the cloud metadata service answered unexpectedly (marketplace). */
    public static final int BAD_METADATA = 261;
    /** 300 UnknownKey: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_UNKNOWN_KEY = 300;

    /** 301 WrongProduct: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_WRONG_PRODUCT = 301;

    /** 302 ModelNotAllowed: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_MODEL_NOT_ALLOWED = 302;

    /** 303 SeatsExhausted: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_SEATS_EXHAUSTED = 303;

    /** 304 LicenseNotFound: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_LICENSE_NOT_FOUND = 304;

    /** 305 ActivationNotFound: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_ACTIVATION_NOT_FOUND = 305;

    /** 306 AlreadyDeactivated: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_ALREADY_DEACTIVATED = 306;

    /** 307 BadDeactivationCode: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_BAD_DEACTIVATION_CODE = 307;

    /** 308 StaleRequest: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_STALE_REQUEST = 308;

    /** 309 LicenseExpired: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_LICENSE_EXPIRED = 309;

    /** 310 LicenseNotYetValid: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_LICENSE_NOT_YET_VALID = 310;

    /** 314 FeatureExists: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_FEATURE_EXISTS = 314;

    /** 315 NoSuchSubscription: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_NO_SUCH_SUBSCRIPTION = 315;

    /** 316 InvalidArgument: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_INVALID_ARGUMENT = 316;

    /** 323 NoActiveActivation: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_NO_ACTIVE_ACTIVATION = 323;

    /** 324 LicenseSuspended: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_LICENSE_SUSPENDED = 324;

    /** 325 LicenseRevoked: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_LICENSE_REVOKED = 325;

    /** 326 TransferLimit: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_TRANSFER_LIMIT = 326;

    /** 327 WeakFingerprint: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_WEAK_FINGERPRINT = 327;

    /** 331 FloatingActivationExists: refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_FLOATING_ACTIVATION_EXISTS = 331;

    /** 340 NoSeat: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_NO_SEAT = 340;

    /** 341 FeatureNotLicensed: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_FEATURE_NOT_LICENSED = 341;

    /** 342 LeaseNotFound: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_LEASE_NOT_FOUND = 342;

    /** 343 BorrowNotAllowed: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_BORROW_NOT_ALLOWED = 343;

    /** 344 NotLicensed: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_NOT_LICENSED = 344;

    /** 345 ClockRollback: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_CLOCK_ROLLBACK = 345;

    /** 346 LeaseHeld: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_LEASE_HELD = 346;

    /** 347 Standby: refused by the floating server (a {@link LicenseServiceException}). */
    public static final int SERVICE_STANDBY = 347;

    /** 355 UsageDeviceUnknown: a usage report refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_USAGE_DEVICE_UNKNOWN = 355;

    /** 356 UsageTooManyReports: a usage report refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_USAGE_TOO_MANY_REPORTS = 356;

    /** 357 UsageSubmissionInvalid: a usage report refused by the activation service (a {@link LicenseServiceException}). */
    public static final int SERVICE_USAGE_SUBMISSION_INVALID = 357;

    /** 380 MarketplaceDisabled: a marketplace activation refused by the activation service. */
    public static final int SERVICE_MARKETPLACE_DISABLED = 380;

    /** 381 IdentityForged: a marketplace activation refused by the activation service. */
    public static final int SERVICE_IDENTITY_FORGED = 381;

    /** 382 UnknownProductCode: a marketplace activation refused by the activation service. */
    public static final int SERVICE_UNKNOWN_PRODUCT_CODE = 382;

    /** 383 IdentityStale: a marketplace activation refused by the activation service. */
    public static final int SERVICE_IDENTITY_STALE = 383;

    /** 384 NonceMismatch: a marketplace activation refused by the activation service. */
    public static final int SERVICE_NONCE_MISMATCH = 384;

    /** 385 InstanceMismatch: a marketplace activation refused by the activation service. */
    public static final int SERVICE_INSTANCE_MISMATCH = 385;

    /** 386 NotMarketplaceRequest: a marketplace activation refused by the activation service. */
    public static final int SERVICE_NOT_MARKETPLACE_REQUEST = 386;

    /** 387 BadIdentity: a marketplace activation refused by the activation service. */
    public static final int SERVICE_BAD_IDENTITY = 387;

    /** Every code this version of the native library knows, in code order. */
    public static List<ErrorCode> all() {
        List<ErrorCode> out = new ArrayList<>();
        for (int code : Native.errorCodes()) {
            out.add(new ErrorCode(code, Native.errorName(code), Native.errorMessage(code)));
        }
        return Collections.unmodifiableList(out);
    }
}
