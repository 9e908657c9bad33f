package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The result-code table, the exception family of every code, and the panic boundary. */
class ErrorCodesTest {

    @Test
    void tableHasEveryCodeInOrder() {
        List<Integer> codes = ErrorCode.all().stream().map(ErrorCode::code)
                .collect(Collectors.toList());
        List<Integer> expected = IntStream.concat(IntStream.concat(IntStream.concat(
                IntStream.rangeClosed(100, 128), IntStream.rangeClosed(130, 134)),
                IntStream.rangeClosed(200, 217)), IntStream.rangeClosed(230, 241)).boxed()
                .collect(Collectors.toList());
        expected.addAll(List.of(255, 256, 260, 261));
        expected.addAll(List.of(300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 314, 315,
                316, 323, 324, 325, 326, 327, 331, 340, 341, 342, 343, 344, 345, 346, 347, 355, 356,
                357, 380, 381, 382, 383, 384, 385, 386, 387));
        assertEquals(expected, codes);
    }

    @Test
    void coreCodesMatchTheSharedVectors() {
        Map<Integer, ErrorCode> table = new HashMap<>();
        ErrorCode.all().forEach(e -> table.put(e.code(), e));
        for (JsonElement e : Vectors.errors()) {
            JsonObject row = e.getAsJsonObject();
            int code = row.get("code").getAsInt();
            ErrorCode mine = table.get(code);
            assertEquals(row.get("name").getAsString(), mine.name(), "name of " + code);
            assertEquals(row.get("message").getAsString(), mine.message(), "message of " + code);
            assertEquals(mine.message(), LicenseManager.errorMessage(code));
        }
    }

    @Test
    void errorMessages() {
        assertEquals("the license key contains a typo", LicenseManager.errorMessage(118));
        assertEquals("the license state is in use by another process",
                LicenseManager.errorMessage(ErrorCode.STATE_LOCKED));
        assertEquals("unknown error code", LicenseManager.errorMessage(999));
        assertEquals("unknown error code", LicenseManager.errorMessage(-1));
    }

    @Test
    void constantsAreNamedForTheirCodes() throws IllegalAccessException {
        Map<Integer, String> names = new HashMap<>();
        ErrorCode.all().forEach(e -> names.put(e.code(), e.name()));
        int count = 0;
        for (Field f : ErrorCode.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class) {
                int code = f.getInt(null);
                String camel = names.get(code);
                String snake = camel.replaceAll("(?<!^)([A-Z])", "_$1").toUpperCase();
                assertEquals(code >= 300 ? "SERVICE_" + snake : snake, f.getName());
                count++;
            }
        }
        assertEquals(names.size(), count);
    }

    @Test
    void everyCodeMapsToItsFamily() {
        for (ErrorCode e : ErrorCode.all()) {
            LicenseException ex = LicenseException.of(e.code(), e.name(), e.message());
            assertEquals(e.code(), ex.code());
            assertEquals(e.name(), ex.errorName());
            assertEquals(e.message(), ex.getMessage());
            Class<?> expected;
            if (e.code() <= 199) {
                expected = InvalidArtifactException.class;
            } else if (List.of(206, 207, 213, 217).contains(e.code())) {
                expected = StateStorageException.class;
            } else if ((e.code() >= 230 && e.code() <= 234) || e.code() == 240 || e.code() == 241
                    || (e.code() >= 260 && e.code() <= 261)
                    || (e.code() >= 300 && e.code() <= 399)) {
                expected = LicenseServiceException.class;
            } else if (List.of(210, 211, 216, 235, 236, 237, 238).contains(e.code())) {
                expected = LicenseException.class;
            } else {
                expected = LicenseStateException.class;
            }
            assertSame(expected, ex.getClass(), e.name());
            assertTrue(ex.toString().contains("[" + e.code() + " " + e.name() + "]"));
        }
        assertSame(LicenseException.class, LicenseException.of(999, "Future", "x").getClass());
    }

    @Test
    void aRustPanicArrivesAsAnAssertionError() {
        AssertionError e = assertThrows(AssertionError.class, Native::panicForTesting);
        assertTrue(e.getMessage().contains("deliberate panic for testing"), e.getMessage());
        // The library still works afterwards.
        assertInstanceOf(String.class, LicenseManager.version());
    }

    @Test
    void versionAndLibrarySource() {
        assertEquals("0.1.0", LicenseManager.version());
        assertTrue(NativeLibrary.source().startsWith("resource /native/linux-x86_64/")
                || NativeLibrary.source().equals("java.library.path"), NativeLibrary.source());
    }
}
