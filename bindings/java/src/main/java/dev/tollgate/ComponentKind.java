package dev.tollgate;

/** The kinds of host fingerprint components, with their wire numbers (core/SPEC.md). */
public enum ComponentKind {
    /** {@code /etc/machine-id} (after an application-specific HMAC). */
    MACHINE_ID(1),
    /** The DMI product UUID. */
    DMI_PRODUCT_UUID(2),
    /** The MAC address of a physical network interface. */
    MAC(3),
    /** The root disk's serial or id. */
    ROOT_DISK(4),
    /** The host name. */
    HOSTNAME(5),
    /** A container or workload id supplied by the host application. */
    WORKLOAD(6),
    /** A cloud instance id. */
    CLOUD_INSTANCE(7),
    /** An id supplied by the operator. */
    OPERATOR(8);

    private final int wire;

    ComponentKind(int wire) {
        this.wire = wire;
    }

    /** The kind's wire number (1–8). */
    public int wire() {
        return wire;
    }

    /**
     * The kind with wire number {@code wire}.
     *
     * @param wire 1–8
     * @return the kind
     * @throws IllegalArgumentException for another number
     */
    public static ComponentKind ofWire(int wire) {
        for (ComponentKind k : values()) {
            if (k.wire == wire) {
                return k;
            }
        }
        throw new IllegalArgumentException("no fingerprint component kind " + wire);
    }
}
