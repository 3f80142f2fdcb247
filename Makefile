# jmesh: the two commands a new user needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
MVN ?= mvn -B -ntp
JAVA ?= java

.PHONY: test build run bench images charts fuzz clean help

help:
	@echo "make run     start a local mesh (Kafka, ca, policy, telemetry, two ztunnels) on loopback addresses"
	@echo "make test    build everything and run every test (what CI runs)"
	@echo "make bench   run the benchmarks in loadtest/ against their baselines; writes loadtest/results/"
	@echo "make images  build one OCI image tarball per service (and the demo) into dist/images/ (Jib, no Docker daemon)"
	@echo "make charts  lint and render the Helm umbrella chart with a real helm"
	@echo "make fuzz    run the fuzzers long, with fresh seeds (make test replays them briefly)"

## test: the command CI runs (.ci/run): unit, integration and end-to-end tests, then the images
## (built and smoke-run when root) and the Helm chart (linted, rendered and checked)
test:
	$(MVN) verify
	./tools/images/build.sh
	./tools/charts/check.sh

build:
	$(MVN) -DskipTests package

## run: the local mesh (see README "Quick start"); builds first if a jar is missing
LOCAL_MESH_CP := tools/local-mesh/target/classes:tools/kafka-local/target/classes
SERVICE_JARS := $(foreach s,ca policy ztunnel telemetry waypoint-mgr,services/$(s)/target/$(s).jar)
run:
	@for f in $(SERVICE_JARS) tools/local-mesh/target/classes/io/jmesh/localmesh/LocalMesh.class; do \
	  [ -e $$f ] || { echo "make run: building (first run only)"; $(MVN) -q -DskipTests package || exit 1; break; }; \
	done
	$(JAVA) -cp $(LOCAL_MESH_CP) io.jmesh.localmesh.LocalMesh

bench: build
	$(MVN) -Pbench -DskipTests -pl loadtest -am verify $(if $(ONLY),-Dbench.only=$(ONLY))

images:
	./tools/images/build.sh

charts:
	./tools/charts/check.sh

## fuzz: the mutation fuzzers (-Dfuzz.seconds each, default 20; fresh seeds), then the coverage-guided ones
## (Jazzer, JAZZER_DURATION each), one JVM per test as libFuzzer allows, each instrumenting the classes named after
## it (ours, and the library whose parsing it drives); what Jazzer keeps goes to <module>/.cifuzz-corpus/
JAZZER_TESTS := \
  services/ztunnel:DnsFuzz\#parsedQueriesCoverageGuided:io.jmesh.** \
  services/ztunnel:DiscoveryResponseFuzz\#everyResponseCoverageGuided:io.jmesh.** \
  services/policy:ManifestFuzz\#everyDocumentCoverageGuided:io.jmesh.**,org.yaml.snakeyaml.** \
  services/telemetry:EventRecordFuzz\#recordsCoverageGuided:io.jmesh.** \
  services/ca:CsrFuzz\#resignedRequestInfoCoverageGuided:io.jmesh.**,org.bouncycastle.**
JAZZER_DURATION ?= 60s
fuzz:
	$(MVN) -Pfuzz verify
	@set -f; for t in $(JAZZER_TESTS); do \
	  IFS=: read -r module test classes <<< "$$t"; \
	  echo "make fuzz: $$test (Jazzer, $(JAZZER_DURATION), instrumenting $$classes)"; \
	  JAZZER_FUZZ=1 $(MVN) -q test -pl $$module -am -Dtest="$$test" -Dsurefire.failIfNoSpecifiedTests=false \
	    -Dsurefire.groups=jazzer -Dsurefire.excludedGroups= -Djazzer.max_duration=$(JAZZER_DURATION) \
	    "-Djazzer.instrument=$$classes" || exit 1; \
	done

clean:
	$(MVN) -q clean
	rm -rf dist
