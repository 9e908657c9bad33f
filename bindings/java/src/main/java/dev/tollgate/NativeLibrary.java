package dev.tollgate;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads {@code libtollgate_jni} once per class loader: first from this jar's resources
 * ({@code /native/<os>-<arch>/<library file>}, extracted to a temporary file that is deleted on
 * exit), else from {@code java.library.path} ({@code System.loadLibrary("tollgate_jni")}).
 *
 * <p>The jar built by {@code bindings/java/test.sh} carries {@code native/linux-x86_64/}.
 * Setting the system property {@code tollgate.library.path} to a file loads that file instead.
 */
public final class NativeLibrary {
    private static final String NAME = "tollgate_jni";
    private static String source;

    private NativeLibrary() {}

    /** Loads the library if not done yet. Throws {@link UnsatisfiedLinkError} if it cannot. */
    static synchronized void load() {
        if (source != null) {
            return;
        }
        String explicit = System.getProperty("tollgate.library.path");
        if (explicit != null) {
            System.load(Path.of(explicit).toAbsolutePath().toString());
            source = explicit;
            return;
        }
        String resource = "/native/" + platform() + "/" + System.mapLibraryName(NAME);
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in != null) {
                Path file = Files.createTempFile("libtollgate_jni", ".so");
                file.toFile().deleteOnExit();
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                System.load(file.toAbsolutePath().toString());
                source = "resource " + resource;
                return;
            }
        } catch (IOException e) {
            UnsatisfiedLinkError error =
                    new UnsatisfiedLinkError("cannot extract " + resource + ": " + e);
            error.initCause(e);
            throw error;
        }
        System.loadLibrary(NAME);
        source = "java.library.path";
    }

    /**
     * Where the library was loaded from: {@code "resource /native/…"},
     * {@code "java.library.path"} or the {@code tollgate.library.path} file. Loads it first.
     */
    public static String source() {
        load();
        return source;
    }

    /** This machine's resource directory name, e.g. {@code linux-x86_64}. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux"
                : os.contains("mac") ? "macos"
                : os.contains("windows") ? "windows" : os.replaceAll("\\W", "");
        String a = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64"
                : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
        return o + "-" + a;
    }

    /**
     * Prints the binding's version and where its native library came from: {@code java -jar
     * tollgate-java.jar}.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        System.out.println("tollgate-java " + LicenseManager.version() + " (native library: "
                + source() + ")");
    }
}
