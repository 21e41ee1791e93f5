// RUN: ingot-opt --ingot-plan-memory="max-tokens=4 max-seqs=8" --verify-diagnostics %s
// (Options apply to the whole file, so this case cannot live among the split
// cases of ingot-plan-memory.mlir.)

// Tests that more sequences than tokens per step is refused (every sequence
// in a step has at least one token).
// expected-error @+1 {{memory planning needs 1 <= max-seqs <= max-tokens, got max-tokens = 4, max-seqs = 8}}
func.func @options(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = ingot.relu %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}
