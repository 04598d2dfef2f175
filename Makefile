# The two commands of the README:
#   make demo   set up (first time) and render the marker_cube sample on built-in synthetic data
#   make test   set up (first time) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: setup demo test bench clean

setup:
	@bash .ci/setup.sh

demo: setup
	$(VENV)/bin/arkit run samples/marker_cube/scene.yaml --out $(OUT)/marker_cube.mp4

test: setup
	@$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected (exit 5), treated as success"; exit 0; fi; exit $$rc

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(OUT) .pytest_cache
