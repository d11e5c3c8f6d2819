// Specialization: binds the kernel's compile-time parameters (dtype choices, vocab size, label smoothing, tuning
// parameters), so that the later passes see plain constants and can fold them away.
#pragma once

#include <map>
#include <string>

#include "compiler/ir/IR.h"

namespace xent::passes {

using ConstexprBindings = std::map<std::string, double>;

// Replaces every `constexpr "name" : T` by a constant of T with the bound value. An unbound name, or a value that does
// not fit T (a non-integer or out-of-range value for an integer type), is a UserError naming the parameter and listing
// the bound names. Afterwards the kernel holds no constexpr.
void specialize(ir::Kernel& kernel, const ConstexprBindings& bindings);

}  // namespace xent::passes
