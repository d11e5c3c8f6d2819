// The typing rules of the IR, in one place: the builder uses them to construct operations (so ill-typed IR cannot be
// built) and the verifier uses them to re-check every operation after each pass.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "compiler/ir/IR.h"

namespace xent::ir {

// The result type of a non-region, non-terminator operation of `kind` with these operand types and attributes
// (nullopt for store, which has none).
// `declared` is the result type the caller asks for, required by the kinds whose result is not implied by their
// operands: constant, constexpr (the scalar type), splat and broadcast (the tile type), cast (the target type).
// Throws UserError naming the operation and what is wrong.
std::optional<Type> infer_result_type(OpKind kind, std::span<const Type> operands, const Attributes& attributes,
                                      const std::optional<Type>& declared = std::nullopt);

// True for the kinds whose result type must be declared (see above).
bool needs_declared_type(OpKind kind);

}  // namespace xent::ir
