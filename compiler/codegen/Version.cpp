#include "compiler/codegen/Version.h"

#include <llvm/Config/llvm-config.h>

#include "compiler/Error.h"
#include "compiler/codegen/PTXTarget.h"

namespace xent::codegen {

std::string llvm_version() { return LLVM_VERSION_STRING; }

std::string ptx_target(std::string_view sm) {
  const PTXArch& arch = ptx_arch(sm);
  return cat("cpu=", arch.cpu, ";features=", arch.features);
}

std::string_view codegen_flags() { return "opt=O3;codegen=default;fp_fusion=fast;f32_denormals=ftz;math=ex2,lg2,div.approx.ftz"; }

}  // namespace xent::codegen
