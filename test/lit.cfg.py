# lit configuration for ingot: dialect, pass, DSL and tool tests.
import os
import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "INGOT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
# .textproto: ONNX models in protobuf text format whose `#` comments hold
# the RUN/CHECK lines (test/ONNX).
config.suffixes = [".mlir", ".ingot", ".test", ".textproto"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "fixtures", "e2e", "tokenizer"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ingot_obj_root, "test")

config.substitutions.append(("%ingot_src", config.ingot_src_root))
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
# `not` and `count` at the start of a RUN line are found on PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.ingot_tools_dir, config.llvm_tools_dir]
tools = ["ingot-opt", ToolSubst("ingot-dsl", unresolved="ignore"), ToolSubst("ingotc", unresolved="ignore"),
         ToolSubst("ingot", unresolved="ignore"), ToolSubst("ingot-nvrtc", unresolved="ignore")]
llvm_config.add_tool_substitutions(tools, tool_dirs)
