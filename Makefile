# The two set-up commands of the README: `make demo` and `make test`.
# Each area has its own script under .ci/; they install what they need themselves.
.PHONY: demo test test-core test-embedded test-wasm test-www test-npm test-fuzz

demo:
	bash .ci/demo.sh

test: test-core test-embedded test-wasm test-www test-npm test-fuzz

test-core:
	bash .ci/test-core.sh

test-embedded:
	bash .ci/test-embedded.sh

test-wasm:
	bash .ci/test-wasm.sh

test-www:
	bash .ci/test-www.sh
	bash .ci/test-webgpu.sh

test-npm:
	bash .ci/test-npm.sh

test-fuzz:
	bash .ci/test-fuzz.sh
