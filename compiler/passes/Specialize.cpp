#include "compiler/passes/Specialize.h"

#include <cmath>
#include <optional>

#include "compiler/Error.h"
#include "compiler/ir/Semantics.h"
#include "compiler/passes/Rewrite.h"

namespace xent::passes {
namespace {

using namespace ir;

// `value` as a literal of `type` (rounded to nearest even for floats); nullopt when the type cannot hold it.
std::optional<Literal> literal_of(ScalarType type, double value) {
  Literal literal;
  if (is_float(type)) {
    literal.real = round_to(type, static_cast<float>(value));
    // A finite value that overflows the type would silently become infinite.
    if (std::isfinite(value) && !std::isfinite(literal.real)) return std::nullopt;
    return literal;
  }
  // Exact bounds as doubles: 2^63 is representable, 2^63 - 1 is not.
  double lo = type == ScalarType::I1 ? 0.0 : type == ScalarType::I32 ? -2147483648.0 : -9223372036854775808.0;
  double hi = type == ScalarType::I1 ? 2.0 : type == ScalarType::I32 ? 2147483648.0 : 9223372036854775808.0;
  if (std::trunc(value) != value || value < lo || value >= hi) return std::nullopt;
  literal.integer = static_cast<int64_t>(value);
  return literal;
}

std::string bound_names(const ConstexprBindings& bindings) {
  std::string names;
  for (const auto& [name, value] : bindings) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "(none)" : names;
}

void specialize_block(const Kernel& kernel, Block& block, const ConstexprBindings& bindings) {
  for (auto it = block.ops().begin(); it != block.ops().end();) {
    Operation& op = **it++;
    for (size_t r = 0; r < op.num_regions(); ++r) specialize_block(kernel, op.region(r), bindings);
    if (op.kind() != OpKind::ConstExpr) continue;
    const std::string& name = op.attributes().symbol;
    const Type& type = op.result()->type();
    std::string where = cat("kernel '", kernel.name(), "': constexpr \"", name, "\" : ", type.str(), " (built at ",
                            op.location().str(), ")");
    auto bound = bindings.find(name);
    if (bound == bindings.end()) throw UserError(cat(where, " is not bound; bound names: ", bound_names(bindings)));
    std::optional<Literal> literal = literal_of(type.element(), bound->second);
    if (!literal)
      throw UserError(
          cat(where, " cannot hold the bound value ", bound->second, "; bound names: ", bound_names(bindings)));
    replace_op(op, {make_constant(block, block.find(&op), type, *literal)});
  }
}

}  // namespace

void specialize(Kernel& kernel, const ConstexprBindings& bindings) {
  specialize_block(kernel, kernel.body(), bindings);
}

}  // namespace xent::passes
