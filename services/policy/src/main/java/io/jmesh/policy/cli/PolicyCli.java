package io.jmesh.policy.cli;

import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.proto.policy.v1.ApplyRequest;
import io.jmesh.proto.policy.v1.ApplyResponse;
import io.jmesh.proto.policy.v1.ApplyResult;
import io.jmesh.proto.policy.v1.ConfigAdminGrpcClient;
import io.jmesh.proto.policy.v1.DeleteRequest;
import io.jmesh.proto.policy.v1.DeleteResponse;
import io.jmesh.proto.policy.v1.FieldError;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * The operator's command line for the ConfigAdmin API:
 *
 * <pre>
 * java -jar policy.jar apply -f &lt;file|dir&gt; [--dry-run] [connection flags]
 * java -jar policy.jar delete &lt;kind&gt;/&lt;namespace&gt;/&lt;name&gt; [--dry-run] [connection flags]
 *   --server host:port   (default 127.0.0.1:15010, env MESH_POLICY_SERVER)
 *   --ca-file roots.pem  (env MESH_POLICY_CA_FILE)   roots that verify the server
 *   --token-file token   (env MESH_POLICY_TOKEN_FILE) the caller's bearer token
 * </pre>
 *
 * <p>Prints one line per object ({@code created}, {@code updated}, {@code unchanged}, {@code rejected}) with
 * warnings and, for rejected objects, each error's field path. Exit status: 0 all accepted, 1 something
 * rejected, 2 usage or connection problems.
 */
public final class PolicyCli {

    private final PrintStream out;
    private final PrintStream err;
    private final java.util.Map<String, String> env;

    public PolicyCli(PrintStream out, PrintStream err, java.util.Map<String, String> env) {
        this.out = out;
        this.err = err;
        this.env = env;
    }

    /** Whether {@code args} is a CLI command rather than the server's arguments. */
    public static boolean isCommand(String[] args) {
        return args.length > 0 && (args[0].equals("apply") || args[0].equals("delete"));
    }

    public static void main(String[] args) {
        System.exit(new PolicyCli(System.out, System.err, System.getenv()).run(args));
    }

    public int run(String[] args) {
        Options o;
        try {
            o = Options.parse(args, env);
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        Vertx vertx = Vertx.vertx();
        try {
            GrpcClient client = GrpcClient.client(vertx, GrpcTls.client(Files.readString(Path.of(o.caFile))));
            String token = Files.readString(Path.of(o.tokenFile)).trim();
            SocketAddress server = SocketAddress.inetSocketAddress(o.port, o.host);
            return o.command.equals("apply") ? apply(client, server, token, o) : delete(client, server, token, o);
        } catch (IOException e) {
            err.println("error: " + e.getMessage());
            return 2;
        } catch (ExecutionException | TimeoutException e) {
            err.println("error: " + (e.getCause() == null ? e : e.getCause()).getMessage());
            return 2;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 2;
        } finally {
            vertx.close();
        }
    }

    private int apply(GrpcClient client, SocketAddress server, String token, Options o)
            throws IOException, ExecutionException, InterruptedException, TimeoutException {
        List<Path> files = manifests(Path.of(o.target));
        if (files.isEmpty()) {
            err.println("error: no *.yaml or *.yml files in " + o.target);
            return 2;
        }
        ApplyRequest.Builder req = ApplyRequest.newBuilder().setDryRun(o.dryRun);
        for (Path f : files) {
            req.addManifests(Files.readString(f));
        }
        ApplyResponse resp = await(client.request(server, ConfigAdminGrpcClient.Apply).compose(call -> {
            call.headers().set("authorization", "Bearer " + token);
            call.end(req.build());
            return call.response().compose(PolicyCli::lastOrStatus);
        }));
        boolean rejected = false;
        for (ApplyResult r : resp.getResultsList()) {
            String where = files.get(r.getManifestIndex()) + (r.getDocumentIndex() > 0 ? "#" + r.getDocumentIndex() : "");
            String object = (r.getKind().isEmpty() ? "?" : r.getKind()) + "/" + r.getNamespace() + "/"
                    + (r.getName().isEmpty() ? "?" : r.getName());
            if (!r.getAccepted()) {
                rejected = true;
                out.println(object + " rejected (" + where + ")");
                for (FieldError e : r.getErrorsList()) {
                    out.println("  " + (e.getPath().isEmpty() ? "" : e.getPath() + ": ") + e.getMessage());
                }
            } else {
                String change = switch (r.getChange()) {
                    case CREATED -> "created";
                    case UPDATED -> "updated";
                    case UNCHANGED -> "unchanged";
                    default -> "applied";
                };
                out.println(object + " " + change + (o.dryRun ? " (dry run)" : ""));
            }
            r.getWarningsList().forEach(w -> out.println("  warning: " + w));
        }
        return rejected ? 1 : 0;
    }

    private int delete(GrpcClient client, SocketAddress server, String token, Options o)
            throws ExecutionException, InterruptedException, TimeoutException {
        String[] parts = o.target.split("/", -1);
        if (parts.length != 3) {
            err.println("error: '" + o.target + "' (expected: kind/namespace/name)");
            return 2;
        }
        DeleteRequest req = DeleteRequest.newBuilder().setKind(parts[0]).setNamespace(parts[1]).setName(parts[2])
                .setDryRun(o.dryRun).build();
        DeleteResponse resp = await(client.request(server, ConfigAdminGrpcClient.Delete).compose(call -> {
            call.headers().set("authorization", "Bearer " + token);
            call.end(req);
            return call.response().compose(PolicyCli::lastOrStatus);
        }));
        out.println(o.target + (resp.getDeleted() ? " deleted" : " not found") + (o.dryRun ? " (dry run)" : ""));
        return 0;
    }

    /** The single response message, or a failure naming the gRPC status and the server's message. */
    private static <T> Future<T> lastOrStatus(GrpcClientResponse<?, T> resp) {
        return resp.last().transform(ar -> ar.succeeded() ? Future.succeededFuture(ar.result())
                : Future.failedFuture(new IllegalStateException(resp.status() == null ? ar.cause().getMessage()
                        : resp.status() + ": " + resp.statusMessage())));
    }

    private static List<Path> manifests(Path target) throws IOException {
        if (Files.isRegularFile(target)) {
            return List.of(target);
        }
        if (!Files.isDirectory(target)) {
            throw new IOException(target + ": no such file or directory");
        }
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.walk(target)) {
            s.filter(Files::isRegularFile).filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
                    .sorted().forEach(out::add);
        }
        return out;
    }

    private static <T> T await(Future<T> f) throws ExecutionException, InterruptedException, TimeoutException {
        return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    }

    static final String USAGE = """
            usage: java -jar policy.jar apply -f <file|dir> [--dry-run] [--server host:port] [--ca-file roots.pem] \
            [--token-file token]
                   java -jar policy.jar delete <kind>/<namespace>/<name> [--dry-run] [...same flags]""";

    /** Parsed command line. */
    record Options(String command, String target, boolean dryRun, String host, int port, String caFile,
            String tokenFile) {

        static Options parse(String[] args, java.util.Map<String, String> env) {
            String command = args[0];
            String target = null;
            boolean dryRun = false;
            String serverAddr = env.getOrDefault("MESH_POLICY_SERVER", "127.0.0.1:15010");
            String caFile = env.get("MESH_POLICY_CA_FILE");
            String tokenFile = env.get("MESH_POLICY_TOKEN_FILE");
            for (int i = 1; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "-f", "--filename" -> target = value(args, ++i, a);
                    case "--dry-run" -> dryRun = true;
                    case "--server" -> serverAddr = value(args, ++i, a);
                    case "--ca-file" -> caFile = value(args, ++i, a);
                    case "--token-file" -> tokenFile = value(args, ++i, a);
                    default -> {
                        if (a.startsWith("-") || !command.equals("delete") || target != null) {
                            throw new IllegalArgumentException("unexpected argument '" + a + "'");
                        }
                        target = a;
                    }
                }
            }
            if (target == null) {
                throw new IllegalArgumentException(command.equals("apply") ? "apply needs -f <file|dir>"
                        : "delete needs <kind>/<namespace>/<name>");
            }
            if (caFile == null || tokenFile == null) {
                throw new IllegalArgumentException("--ca-file and --token-file are required");
            }
            int colon = serverAddr.lastIndexOf(':');
            if (colon < 1 || !serverAddr.substring(colon + 1).matches("[0-9]{1,5}")) {
                throw new IllegalArgumentException("--server '" + serverAddr + "' (expected: host:port)");
            }
            return new Options(command, target, dryRun, serverAddr.substring(0, colon),
                    Integer.parseInt(serverAddr.substring(colon + 1)), caFile, tokenFile);
        }

        private static String value(String[] args, int i, String flag) {
            if (i >= args.length) {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            return args[i];
        }
    }
}
