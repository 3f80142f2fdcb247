package io.jmesh.policy.resource;

import io.jmesh.core.net.IpLiteral;
import java.net.InetAddress;
import java.util.regex.Pattern;

/** Kubernetes and network name rules, each reporting at a field path. */
final class Names {

    private static final Pattern LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern SUBDOMAIN = Pattern.compile(
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    private static final Pattern LABEL_VALUE = Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
    private static final Pattern LABEL_KEY_NAME = Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
    private static final Pattern PORT_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

    private Names() {}

    static boolean dnsLabel(String value, String path, Problems p) {
        if (value.length() > 63 || !LABEL.matcher(value).matches()) {
            p.error(path, "'" + value + "' is not a DNS-1123 label (lowercase letters, digits, '-', at most 63)");
            return false;
        }
        return true;
    }

    static boolean dnsSubdomain(String value, String path, Problems p) {
        if (value.length() > 253 || !SUBDOMAIN.matcher(value).matches()) {
            p.error(path, "'" + value + "' is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')");
            return false;
        }
        return true;
    }

    static void labels(java.util.Map<String, String> labels, String path, Problems p) {
        labels.forEach((k, v) -> {
            String name = k.contains("/") ? k.substring(k.indexOf('/') + 1) : k;
            String prefix = k.contains("/") ? k.substring(0, k.indexOf('/')) : null;
            if (name.length() > 63 || !LABEL_KEY_NAME.matcher(name).matches()
                    || (prefix != null && (prefix.length() > 253 || !SUBDOMAIN.matcher(prefix).matches()))) {
                p.error(path + "." + k, "invalid label key (expected: [prefix/]name, name of at most 63"
                        + " alphanumerics, '-', '_', '.')");
            }
            if (v.length() > 63 || !LABEL_VALUE.matcher(v).matches()) {
                p.error(path + "." + k, "invalid label value '" + v + "' (expected: at most 63 alphanumerics,"
                        + " '-', '_', '.', starting and ending alphanumeric)");
            }
        });
    }

    static boolean portName(String value, String path, Problems p) {
        if (value.length() > 15 || !PORT_NAME.matcher(value).matches() || !value.matches(".*[a-z].*")) {
            p.error(path, "'" + value + "' is not a port name (IANA_SVC_NAME: at most 15 lowercase letters,"
                    + " digits and '-', with a letter)");
            return false;
        }
        return true;
    }

    /** Parses an IP literal without DNS lookups; null (with an error) when it is not one. */
    static InetAddress ip(String value, String path, Problems p) {
        InetAddress a = ipOrNull(value);
        if (a == null) {
            p.error(path, "'" + value + "' is not an IP address");
        }
        return a;
    }

    static InetAddress ipOrNull(String value) {
        return IpLiteral.parse(value); // strict, and never a name lookup
    }

    /** An IP or {@code ip/len} CIDR; reports and returns false when invalid. */
    static boolean cidr(String value, String path, Problems p) {
        int slash = value.indexOf('/');
        String ip = slash < 0 ? value : value.substring(0, slash);
        InetAddress a = ipOrNull(ip);
        if (a == null) {
            p.error(path, "'" + value + "' is not an IP address or CIDR");
            return false;
        }
        if (slash >= 0) {
            String len = value.substring(slash + 1);
            int max = a.getAddress().length * 8;
            if (!len.matches("[0-9]{1,3}") || Integer.parseInt(len) > max) {
                p.error(path, "'" + value + "' has an invalid prefix length (expected: 0-" + max + ")");
                return false;
            }
        }
        return true;
    }
}
