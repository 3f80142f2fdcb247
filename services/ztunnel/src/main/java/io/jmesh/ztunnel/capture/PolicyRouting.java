package io.jmesh.ztunnel.capture;

import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy routing of transparent capture: packets with the capture mark are looked up in their own table,
 * whose only route delivers everything locally ({@code ip rule add fwmark <mark> lookup <table>} and
 * {@code ip route replace local 0.0.0.0/0 dev lo table <table>}), for IPv4 and IPv6 (unless switched off on
 * {@code lo}). Both steps are idempotent: the route is {@code replace}d, the rule added only when {@code ip rule
 * show} lacks it.
 */
public final class PolicyRouting {

    private static final Logger log = LoggerFactory.getLogger(PolicyRouting.class);

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

    /**
     * Installs the route and, where it is missing, the rule. IPv6 switched off by sysctl ({@code disable_ipv6} on
     * {@code lo}: the kernel has IPv6, but no route may point at {@code lo}) is left out, as there is no IPv6 traffic
     * to capture; any other failure is thrown.
     */
    public void install(Commands commands) throws Commands.CommandFailure {
        for (String family : families) {
            try {
                commands.run(List.of(ip, family, "route", "replace", "local",
                        family.equals("-4") ? "0.0.0.0/0" : "::/0", "dev", "lo", "table", String.valueOf(table)), "");
            } catch (Commands.CommandFailure e) {
                if (family.equals("-6") && !ipv6OnLoopback(commands)) {
                    log.atInfo().log("IPv6 is switched off on lo (sysctl disable_ipv6): capture routes IPv4 only");
                    continue;
                }
                throw e;
            }
            String rules = commands.run(List.of(ip, family, "rule", "show"), "");
            if (!hasRule(rules)) {
                commands.run(List.of(ip, family, "rule", "add", "fwmark", CaptureRules.hex(mark), "lookup",
                        String.valueOf(table)), "");
            }
        }
    }

    /** Whether {@code lo} has an IPv6 address ({@code ::1}); none when IPv6 is switched off on it. */
    private boolean ipv6OnLoopback(Commands commands) throws Commands.CommandFailure {
        return commands.run(List.of(ip, "-6", "addr", "show", "dev", "lo"), "").contains("inet6");
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
