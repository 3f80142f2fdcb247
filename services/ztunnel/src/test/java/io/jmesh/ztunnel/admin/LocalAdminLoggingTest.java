package io.jmesh.ztunnel.admin;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@code /logging} on the real admin port, in the forms Istio's ztunnel takes and {@code istioctl ztunnel-config log}
 * sends: {@code ?level=<logger>:<level>} or {@code <logger>=<level>}, and {@code ?reset} (with or without a level)
 * back to the levels ztunnel started with.
 */
class LocalAdminLoggingTest {

    static final String STARTUP = "io.jmesh.test.logging.startup";
    static final String ADDED = "io.jmesh.test.logging.added";

    final HttpClient http = HttpClient.newHttpClient();
    final LoggerContext logback = (LoggerContext) LoggerFactory.getILoggerFactory();
    Level rootBefore;
    Vertx vertx;
    LocalAdmin admin;

    @BeforeEach
    void start() throws Exception {
        rootBefore = logback.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).getLevel();
        logback.getLogger(STARTUP).setLevel(Level.WARN); // as a level set by configuration before the admin starts
        vertx = Vertx.vertx();
        admin = startedEmpty(vertx);
    }

    /** An admin server over an empty mesh (no identities, policies or trust bundle) on a port of its own. */
    static LocalAdmin startedEmpty(Vertx vertx) throws Exception {
        LocalAdmin admin = new LocalAdmin(vertx, new WorkloadStore(), null, List::of, () -> { }, new JsonObject(), null);
        admin.start(0).await(10, TimeUnit.SECONDS);
        return admin;
    }

    @AfterEach
    void stop() throws Exception {
        admin.close().await(10, TimeUnit.SECONDS);
        vertx.close().await(10, TimeUnit.SECONDS);
        logback.getLogger(STARTUP).setLevel(null);
        logback.getLogger(ADDED).setLevel(null);
        logback.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).setLevel(rootBefore);
    }

    @Test
    void levelsChangeInBothOfIstiosFormsAndResetReturnsToTheStartupLevels() throws Exception {
        // Istio's clause forms: <logger>:<level> (istioctl's help) and <logger>=<level> (ztunnel's own filter syntax)
        HttpResponse<String> changed = post("/logging?level=" + STARTUP + ":error," + ADDED + "=debug");
        assertThat(changed.statusCode()).as(changed.body()).isEqualTo(200);
        assertThat(level(STARTUP)).isEqualTo(Level.ERROR);
        assertThat(level(ADDED)).isEqualTo(Level.DEBUG);

        // POST /logging?reset: every logger back to its level at start; one set since then inherits again
        HttpResponse<String> reset = post("/logging?reset");
        assertThat(reset.statusCode()).as(reset.body()).isEqualTo(200);
        assertThat(level(STARTUP)).isEqualTo(Level.WARN);
        assertThat(level(ADDED)).as("not set at start: inherits again").isNull();
        assertThat(reset.body()).contains(STARTUP + "=warn").doesNotContain(ADDED);
        assertThat(level(org.slf4j.Logger.ROOT_LOGGER_NAME)).isEqualTo(rootBefore);

        // what `istioctl ztunnel-config log -r` sends: a level and a bare reset; the reset comes first
        post("/logging?level=" + ADDED + ":trace");
        logback.getLogger(STARTUP).setLevel(Level.DEBUG);
        HttpResponse<String> istioctl = post("/logging?level=" + ADDED + ":info&reset");
        assertThat(istioctl.statusCode()).as(istioctl.body()).isEqualTo(200);
        assertThat(level(STARTUP)).isEqualTo(Level.WARN);
        assertThat(level(ADDED)).isEqualTo(Level.INFO);
    }

    @Test
    void aBadLevelAlongsideResetChangesNothing() throws Exception {
        post("/logging?level=" + ADDED + ":debug");
        HttpResponse<String> bad = post("/logging?reset=true&level=" + ADDED + ":loud");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains(ADDED, "loud");
        assertThat(level(ADDED)).as("the reset did not apply either").isEqualTo(Level.DEBUG);
        HttpResponse<String> noLogger = post("/logging?level==debug");
        assertThat(noLogger.statusCode()).isEqualTo(400);
        assertThat(noLogger.body()).contains("logger ''");
    }

    @Test
    void onlyPostIsAnsweredWithIstiosCurrentLevelLine() throws Exception {
        // Istio's handle_logging: any other method is 405 "Invalid HTTP method" with the usage
        HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin.port()
                + "/logging")).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(get.statusCode()).isEqualTo(405);
        assertThat(get.body()).startsWith("Invalid HTTP method\n").contains("POST /logging?level=");
        // a POST without level or reset lists, as text: "current log level is <logger>=<level>,...,<root level>"
        logback.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).setLevel(Level.INFO);
        HttpResponse<String> list = post("/logging");
        assertThat(list.statusCode()).isEqualTo(200);
        assertThat(list.headers().firstValue("content-type")).hasValue("text/plain; charset=utf-8");
        assertThat(list.body()).startsWith("current log level is ").endsWith(",info\n")
                .contains(STARTUP + "=warn");
        HttpResponse<String> changed = post("/logging?level=" + ADDED + ":debug");
        assertThat(changed.body()).startsWith("current log level is ").contains(ADDED + "=debug", STARTUP + "=warn");
    }

    private Level level(String logger) {
        Logger l = logback.getLogger(logger);
        return l.getLevel();
    }

    private HttpResponse<String> post(String pathAndQuery) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin.port() + pathAndQuery))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }
}
