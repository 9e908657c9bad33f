package dev.tollgate;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** The shared test vectors, tests/vectors/ (layout: tests/vectors/README.md). */
final class Vectors {
    static final Path DIR = Path.of(System.getProperty("tollgate.vectors", "../../tests/vectors"));
    static final JsonObject MANIFEST = read();

    private Vectors() {}

    private static JsonObject read() {
        try {
            return JsonParser.parseString(Files.readString(DIR.resolve("manifest.json")))
                    .getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The cases of one artifact kind. */
    static List<JsonObject> cases(String artifact) {
        List<JsonObject> out = new ArrayList<>();
        for (JsonElement c : MANIFEST.getAsJsonArray("cases")) {
            if (c.getAsJsonObject().get("artifact").getAsString().equals(artifact)) {
                out.add(c.getAsJsonObject());
            }
        }
        return out;
    }

    static JsonObject named(String name) {
        for (JsonElement c : MANIFEST.getAsJsonArray("cases")) {
            if (c.getAsJsonObject().get("name").getAsString().equals(name)) {
                return c.getAsJsonObject();
            }
        }
        throw new IllegalArgumentException(name);
    }

    /** The error table of SPEC §14 (core codes). */
    static JsonArray errors() {
        return MANIFEST.getAsJsonArray("errors");
    }

    /** A case's text input, exactly as given (null if it has none). */
    static String text(JsonObject c) {
        JsonElement t = c.get("text");
        if (t == null || t.isJsonNull()) {
            return null;
        }
        try {
            return Files.readString(DIR.resolve(t.getAsString()), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A case's binary input. */
    static byte[] binary(JsonObject c) {
        try {
            return Files.readAllBytes(DIR.resolve(c.get("binary").getAsString()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] hex(JsonElement e) {
        return HexFormat.of().parseHex(e.getAsString());
    }

    static boolean expectsOk(JsonObject c) {
        return c.getAsJsonObject("expect").get("result").getAsString().equals("ok");
    }

    static int expectedCode(JsonObject c) {
        return c.getAsJsonObject("expect").get("code").getAsInt();
    }

    static JsonObject fields(JsonObject c) {
        return c.getAsJsonObject("expect").getAsJsonObject("fields");
    }
}
