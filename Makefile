# jmesh: the two commands a new user needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
MVN ?= mvn -B -ntp
JAVA ?= java

.PHONY: test build run bench images charts fuzz clean help

help:
	@echo "make run     start a local mesh (Kafka, ca, policy, telemetry, two ztunnels) on loopback addresses"
	@echo "make test    build everything and run every test (what CI runs)"
	@echo "make bench   run the benchmarks in loadtest/ against their baselines; writes loadtest/results/"
	@echo "make images  build one OCI image tarball per service into dist/images/ (Jib, no Docker daemon)"
	@echo "make charts  lint and render the Helm umbrella chart with a real helm"
	@echo "make fuzz    run the fuzzers (long; not part of make test)"

## test: the command CI runs (.ci/run): unit, integration and end-to-end tests, then the images
## (built and smoke-run when root) and the Helm chart (linted, rendered and checked)
test:
	$(MVN) verify
	./tools/images/build.sh
	./tools/charts/check.sh

build:
	$(MVN) -DskipTests package

run:
	@echo "make run will start a real Kafka broker (KRaft), ca, policy, telemetry and two ztunnels as"
	@echo "node-a (127.0.10.1) and node-b (127.0.20.1) with demo workloads; it lands with issue 7."

bench: build
	$(MVN) -pl loadtest -Pbench exec:java $(if $(ONLY),-Dbench.only=$(ONLY))

images:
	./tools/images/build.sh

charts:
	./tools/charts/check.sh

fuzz:
	$(MVN) -Pfuzz verify

clean:
	$(MVN) -q clean
	rm -rf dist
