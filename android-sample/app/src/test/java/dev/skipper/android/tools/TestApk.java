package dev.skipper.android.tools;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes the resource APK that the Android Gradle plugin would hand Robolectric, for the Maven
 * build that has no plugin: the app's manifest in Android's binary XML and its assets under
 * {@code assets/}. Robolectric's AssetManager reads the assets only from such an APK. The binary
 * XML here covers what this manifest uses (elements, string/int/boolean attributes, the android
 * namespace), as documented in AOSP's {@code ResourceTypes.h}.
 *
 * <p>The elements come from the app's real {@code AndroidManifest.xml} (the application class and
 * every activity with its {@code exported} flag), so a class renamed there is what the tests see;
 * attributes this writer does not encode (configChanges, windowSoftInputMode, ...) are left out.
 *
 * <p>Run by Maven before the tests: {@code TestApk OUT.ap_ MANIFEST ASSETS_DIR PACKAGE MIN_SDK TARGET_SDK}.
 */
public final class TestApk {
    private static final String ANDROID_NS = "http://schemas.android.com/apk/res/android";
    // android attribute resource ids (android.R.attr)
    private static final Map<String, Integer> ATTR_IDS = new LinkedHashMap<>();

    static {
        ATTR_IDS.put("label", 0x01010001);
        ATTR_IDS.put("name", 0x01010003);
        ATTR_IDS.put("exported", 0x01010010);
        ATTR_IDS.put("minSdkVersion", 0x0101020c);
        ATTR_IDS.put("versionCode", 0x0101021b);
        ATTR_IDS.put("versionName", 0x0101021c);
        ATTR_IDS.put("targetSdkVersion", 0x01010270);
    }

    private TestApk() {}

    /** An attribute: android-namespaced when {@code android}; value a String, Integer or Boolean. */
    record Attr(boolean android, String name, Object value) {}

    /** An element and its children. */
    record Element(String name, List<Attr> attrs, List<Element> children) {}

    /**
     * @param args the APK to write, the assets folder, the package name
     * @throws IOException when a file cannot be read or written
     */
    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Path manifestXml = Path.of(args[1]);
        Path assets = Path.of(args[2]);
        String pkg = args[3];
        int minSdk = Integer.parseInt(args[4]);
        int targetSdk = Integer.parseInt(args[5]);
        javax.xml.parsers.DocumentBuilderFactory xml = javax.xml.parsers.DocumentBuilderFactory.newInstance();
        xml.setNamespaceAware(true);
        xml.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        org.w3c.dom.Element app = (org.w3c.dom.Element) xml.newDocumentBuilder().parse(manifestXml.toFile())
                .getElementsByTagName("application").item(0);
        if (app == null) {
            throw new IOException(manifestXml + ": no <application>");
        }
        List<Element> activities = new ArrayList<>();
        org.w3c.dom.NodeList acts = app.getElementsByTagName("activity");
        for (int i = 0; i < acts.getLength(); i++) {
            org.w3c.dom.Element a = (org.w3c.dom.Element) acts.item(i);
            activities.add(new Element("activity", List.of(new Attr(true, "name", a.getAttributeNS(ANDROID_NS, "name")),
                    new Attr(true, "exported", Boolean.parseBoolean(a.getAttributeNS(ANDROID_NS, "exported")))), List.of()));
        }
        List<Attr> appAttrs = new ArrayList<>(List.of(new Attr(true, "name", app.getAttributeNS(ANDROID_NS, "name"))));
        if (app.hasAttributeNS(ANDROID_NS, "label")) {
            appAttrs.add(new Attr(true, "label", app.getAttributeNS(ANDROID_NS, "label")));
        }
        Element manifest = new Element("manifest", List.of(new Attr(false, "package", pkg),
                new Attr(true, "versionCode", 1), new Attr(true, "versionName", "1.0")), List.of(
                new Element("uses-sdk", List.of(new Attr(true, "minSdkVersion", minSdk),
                        new Attr(true, "targetSdkVersion", targetSdk)), List.of()),
                new Element("application", appAttrs, activities)));
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        Files.createDirectories(out.toAbsolutePath().getParent());
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(tmp))) {
            zip.putNextEntry(new ZipEntry("AndroidManifest.xml"));
            zip.write(binaryXml(manifest));
            zip.closeEntry();
            try (Stream<Path> files = Files.walk(assets)) {
                for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile).sorted()::iterator) {
                    zip.putNextEntry(new ZipEntry("assets/" + assets.relativize(f).toString().replace('\\', '/')));
                    Files.copy(f, zip);
                    zip.closeEntry();
                }
            }
        }
        Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The element tree as Android binary XML (RES_XML_TYPE). */
    static byte[] binaryXml(Element root) {
        // string pool: the mapped attribute names first (index i <-> resource map entry i)
        List<String> pool = new ArrayList<>(ATTR_IDS.keySet());
        collect(root, pool);
        for (String s : List.of("android", ANDROID_NS)) {
            if (!pool.contains(s)) {
                pool.add(s);
            }
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        write(body, stringPool(pool));
        ByteBuffer map = le(8 + 4 * ATTR_IDS.size());
        map.putShort((short) 0x0180).putShort((short) 8).putInt(map.capacity());
        ATTR_IDS.values().forEach(map::putInt);
        write(body, map.array());
        int prefix = pool.indexOf("android");
        int uri = pool.indexOf(ANDROID_NS);
        write(body, namespace(0x0100, prefix, uri));
        element(body, root, pool, uri);
        write(body, namespace(0x0101, prefix, uri));
        byte[] b = body.toByteArray();
        ByteBuffer all = le(8 + b.length);
        all.putShort((short) 0x0003).putShort((short) 8).putInt(all.capacity()).put(b);
        return all.array();
    }

    private static void collect(Element e, List<String> pool) {
        add(pool, e.name());
        for (Attr a : e.attrs()) {
            add(pool, a.name());
            if (a.value() instanceof String s) {
                add(pool, s);
            }
        }
        e.children().forEach(c -> collect(c, pool));
    }

    private static void add(List<String> pool, String s) {
        if (!pool.contains(s)) {
            pool.add(s);
        }
    }

    private static byte[] stringPool(List<String> strings) {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        int[] offsets = new int[strings.size()];
        for (int i = 0; i < strings.size(); i++) {
            offsets[i] = data.size();
            byte[] chars = strings.get(i).getBytes(StandardCharsets.UTF_16LE);
            ByteBuffer s = le(2 + chars.length + 2); // UTF-16: length in chars, the chars, a 0 terminator
            s.putShort((short) strings.get(i).length()).put(chars).putShort((short) 0);
            write(data, s.array());
        }
        while (data.size() % 4 != 0) {
            data.write(0);
        }
        int header = 28;
        int start = header + 4 * strings.size();
        ByteBuffer b = le(start + data.size());
        b.putShort((short) 0x0001).putShort((short) header).putInt(b.capacity())
                .putInt(strings.size()).putInt(0).putInt(0).putInt(start).putInt(0);
        for (int o : offsets) {
            b.putInt(o);
        }
        b.put(data.toByteArray());
        return b.array();
    }

    private static byte[] namespace(int type, int prefix, int uri) {
        ByteBuffer b = le(24);
        b.putShort((short) type).putShort((short) 16).putInt(24).putInt(1).putInt(-1).putInt(prefix).putInt(uri);
        return b.array();
    }

    private static void element(ByteArrayOutputStream out, Element e, List<String> pool, int uri) {
        List<Attr> attrs = new ArrayList<>(e.attrs());
        // attributes in resource-id order, those without an id (package) first, as aapt writes them
        attrs.sort((x, y) -> Long.compare(id(x), id(y)));
        ByteBuffer b = le(16 + 20 + 20 * attrs.size());
        b.putShort((short) 0x0102).putShort((short) 16).putInt(b.capacity()).putInt(1).putInt(-1);
        b.putInt(-1).putInt(pool.indexOf(e.name()))
                .putShort((short) 20).putShort((short) 20).putShort((short) attrs.size())
                .putShort((short) 0).putShort((short) 0).putShort((short) 0);
        for (Attr a : attrs) {
            b.putInt(a.android() ? uri : -1).putInt(pool.indexOf(a.name()));
            Object v = a.value();
            if (v instanceof String s) {
                b.putInt(pool.indexOf(s)).putShort((short) 8).put((byte) 0).put((byte) 0x03).putInt(pool.indexOf(s));
            } else if (v instanceof Boolean bool) {
                b.putInt(-1).putShort((short) 8).put((byte) 0).put((byte) 0x12).putInt(bool ? -1 : 0);
            } else {
                b.putInt(-1).putShort((short) 8).put((byte) 0).put((byte) 0x10).putInt((Integer) v);
            }
        }
        write(out, b.array());
        e.children().forEach(c -> element(out, c, pool, uri));
        ByteBuffer end = le(24);
        end.putShort((short) 0x0103).putShort((short) 16).putInt(24).putInt(1).putInt(-1).putInt(-1)
                .putInt(pool.indexOf(e.name()));
        write(out, end.array());
    }

    private static long id(Attr a) {
        return a.android() ? ATTR_IDS.get(a.name()) & 0xffffffffL : -1;
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void write(OutputStream out, byte[] b) {
        try {
            out.write(b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
