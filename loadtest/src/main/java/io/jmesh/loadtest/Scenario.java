package io.jmesh.loadtest;

/**
 * One benchmark: it measures the subject and, in the same run, its baselines (direct TCP, peer proxies), and
 * returns a table. Scenarios are listed in {@link BenchMain#SCENARIOS}.
 */
public interface Scenario {

    /** Short id used on the command line and as the results file name, e.g. {@code ca-signing}. */
    String name();

    /** One line saying what is measured, shown above the table. */
    String description();

    /**
     * Runs the measurement. Must stop by itself (bounded durations), clean up every process it started, and keep
     * all traffic on loopback.
     */
    ResultTable run(BenchContext context) throws Exception;
}
