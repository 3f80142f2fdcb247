package io.jmesh.ztunnel.capture;

import java.util.ArrayList;
import java.util.List;

/**
 * The policy routing of transparent capture: packets with the capture mark are looked up in their own table,
 * whose only route delivers everything locally ({@code ip rule add fwmark <mark> lookup <table>} and
 * {@code ip route replace local 0.0.0.0/0 dev lo table <table>}), for IPv4 and IPv6. Both steps are idempotent:
 * the rule is added only when {@code ip rule show} lacks it, the route is {@code replace}d.
 */
public final class PolicyRouting {

    private final String ip;
    private final int mark;
    private final int table;
    private final List<String> families;

    /**
     * @param ipv6 also for IPv6 (false where the kernel has no IPv6: {@code /proc/sys/net/ipv6} is missing)
     */
    public PolicyRouting(String ipCommand, int mark, int table, boolean ipv6) {
        if (table <= 0 || table >= 253) {
            throw new IllegalArgumentException("routeTable: " + table + " (expected: 1..252, not a kernel table)");
        }
        this.ip = ipCommand;
        this.mark = mark;
        this.table = table;
        this.families = ipv6 ? List.of("-4", "-6") : List.of("-4");
    }

    /** Installs the rule and the route where they are missing. */
    public void install(Commands commands) throws Commands.CommandFailure {
        for (String family : families) {
            String rules = commands.run(List.of(ip, family, "rule", "show"), "");
            if (!hasRule(rules)) {
                commands.run(List.of(ip, family, "rule", "add", "fwmark", CaptureRules.hex(mark), "lookup",
                        String.valueOf(table)), "");
            }
            commands.run(List.of(ip, family, "route", "replace", "local", family.equals("-4") ? "0.0.0.0/0" : "::/0",
                    "dev", "lo", "table", String.valueOf(table)), "");
        }
    }

    /** Removes the rule(s) and the route; failures are collected, not thrown half-way. */
    public List<String> remove(Commands commands) {
        List<String> errors = new ArrayList<>();
        for (String family : families) {
            try {
                // a rule added twice by hand would need two deletes: bounded by what `ip rule show` lists
                String rules = commands.run(List.of(ip, family, "rule", "show"), "");
                long n = rules.lines().filter(this::isOurRule).count();
                for (long i = 0; i < n; i++) {
                    commands.run(List.of(ip, family, "rule", "del", "fwmark", CaptureRules.hex(mark), "lookup",
                            String.valueOf(table)), "");
                }
            } catch (Commands.CommandFailure e) {
                errors.add(e.getMessage());
            }
            try {
                commands.run(List.of(ip, family, "route", "del", "local", family.equals("-4") ? "0.0.0.0/0" : "::/0",
                        "dev", "lo", "table", String.valueOf(table)), "");
            } catch (Commands.CommandFailure e) {
                // already gone (or never made): without the rule the table is unused anyway
            }
        }
        return errors;
    }

    boolean hasRule(String ipRuleShow) {
        return ipRuleShow.lines().anyMatch(this::isOurRule);
    }

    /** {@code 32765:	from all fwmark 0x111 lookup 133} */
    private boolean isOurRule(String line) {
        return line.contains("fwmark " + CaptureRules.hex(mark) + " ") && line.strip().endsWith("lookup " + table);
    }
}
