package io.jmesh.localmesh.compose;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * docker-compose.yml as Compose reads it: SnakeYAML (YAML 1.1 with anchors, aliases and {@code <<} merge keys, as
 * the compose-go loader), then typed views of the parts the test checks. Strings only where Compose takes strings.
 */
record ComposeFile(Map<String, Object> root, Map<String, Service> services) {

    /** A volume or bind mount: {@code source:target[:ro]}. */
    record Mount(String source, String target, boolean readOnly) {
        boolean bind() {
            return source.startsWith(".") || source.startsWith("/");
        }
    }

    /** A published port {@code [ip:]hostPort:containerPort}. */
    record Port(String hostIp, int hostPort, int containerPort) {}

    record Service(String name, Map<String, Object> raw) {

        String image() {
            return (String) raw.get("image");
        }

        Map<String, String> environment() {
            Map<String, String> env = new LinkedHashMap<>();
            Object e = raw.get("environment");
            if (e instanceof Map<?, ?> m) {
                m.forEach((k, v) -> env.put(String.valueOf(k), String.valueOf(v)));
            }
            return env;
        }

        List<String> command() {
            return strings(raw.get("command"));
        }

        List<String> entrypoint() {
            return strings(raw.get("entrypoint"));
        }

        List<Mount> mounts() {
            List<Mount> out = new ArrayList<>();
            for (String v : strings(raw.get("volumes"))) {
                String[] parts = v.split(":");
                out.add(new Mount(parts[0], parts[1], parts.length > 2 && parts[2].equals("ro")));
            }
            return out;
        }

        List<Port> ports() {
            List<Port> out = new ArrayList<>();
            for (String p : strings(raw.get("ports"))) {
                String[] parts = p.split(":");
                if (parts.length == 3) {
                    out.add(new Port(parts[0], Integer.parseInt(parts[1]), Integer.parseInt(parts[2])));
                } else {
                    out.add(new Port("", Integer.parseInt(parts[0]), Integer.parseInt(parts[parts.length - 1])));
                }
            }
            return out;
        }

        /** depends_on target -> condition. */
        Map<String, String> dependsOn() {
            Map<String, String> out = new LinkedHashMap<>();
            Object d = raw.get("depends_on");
            if (d instanceof Map<?, ?> m) {
                m.forEach((k, v) -> out.put(String.valueOf(k), String.valueOf(((Map<?, ?>) v).get("condition"))));
            } else {
                strings(d).forEach(s -> out.put(s, "service_started"));
            }
            return out;
        }

        String networkMode() {
            return (String) raw.get("network_mode");
        }

        /** The service whose network namespace this one joins ({@code network_mode: service:X}), or null. */
        String namespaceOwner() {
            String mode = networkMode();
            return mode != null && mode.startsWith("service:") ? mode.substring("service:".length()) : null;
        }

        List<String> healthcheck() {
            Object h = raw.get("healthcheck");
            return h instanceof Map<?, ?> m ? strings(m.get("test")) : List.of();
        }

        boolean oneShot() {
            return "no".equals(raw.get("restart"));
        }

        /** The fixed address on a network, or null. */
        String ipv4Address(String network) {
            Object n = raw.get("networks");
            if (n instanceof Map<?, ?> m && m.get(network) instanceof Map<?, ?> settings) {
                return (String) settings.get("ipv4_address");
            }
            return null;
        }
    }

    static ComposeFile load(Path file) throws IOException {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        Map<String, Object> root = new Yaml(new SafeConstructor(options)).load(Files.readString(file));
        Map<String, Service> services = new LinkedHashMap<>();
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> raw = (Map<String, Map<String, Object>>) root.get("services");
        raw.forEach((name, body) -> services.put(name, new Service(name, body)));
        return new ComposeFile(root, services);
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> section(String name) {
        Object s = root.get(name);
        return s == null ? Map.of() : (Map<String, Object>) s;
    }

    static List<String> strings(Object o) {
        if (o == null) {
            return List.of();
        }
        if (o instanceof List<?> l) {
            return l.stream().map(String::valueOf).toList();
        }
        return List.of(String.valueOf(o));
    }
}
