#include "compiler/ir/OpKind.h"

#include <array>

namespace xent::ir {
namespace {

using enum OpCategory;

// One row per operation, kept as a table.
// clang-format off
constexpr std::array kOpTable = {
    OpInfo{"constant", Leaf, kLiteral, 0, false},
    OpInfo{"constexpr", Leaf, kSymbol, 0, false},
    OpInfo{"program_id", Leaf, kAxis, 0, false},
    OpInfo{"arange", Leaf, kRange, 0, false},
    OpInfo{"splat", Other, kNoAttributes, 0, false},
    OpInfo{"broadcast", Other, kAxis, 0, false},
    OpInfo{"neg", Unary, kNoAttributes, 0, false},
    OpInfo{"exp", Unary, kNoAttributes, 0, false},
    OpInfo{"exp2", Unary, kNoAttributes, 0, false},
    OpInfo{"log", Unary, kNoAttributes, 0, false},
    OpInfo{"log2", Unary, kNoAttributes, 0, false},
    OpInfo{"tanh", Unary, kNoAttributes, 0, false},
    OpInfo{"add", Binary, kNoAttributes, 0, false},
    OpInfo{"sub", Binary, kNoAttributes, 0, false},
    OpInfo{"mul", Binary, kNoAttributes, 0, false},
    OpInfo{"div", Binary, kNoAttributes, 0, false},
    OpInfo{"rem", Binary, kNoAttributes, 0, false},
    OpInfo{"max", Binary, kNoAttributes, 0, false},
    OpInfo{"min", Binary, kNoAttributes, 0, false},
    OpInfo{"and", Binary, kNoAttributes, 0, false},
    OpInfo{"or", Binary, kNoAttributes, 0, false},
    OpInfo{"cmp", Other, kPredicate, 0, false},
    OpInfo{"select", Other, kNoAttributes, 0, false},
    OpInfo{"cast", Other, kNoAttributes, 0, false},
    OpInfo{"addptr", Other, kNoAttributes, 0, false},
    OpInfo{"load", Other, kNoAttributes, 0, false},
    OpInfo{"store", Other, kNoAttributes, 0, true},
    OpInfo{"shared_alloc", Leaf, kLiteral, 0, false},
    OpInfo{"async_copy", Other, kNoAttributes, 0, true},
    OpInfo{"async_commit", Other, kNoAttributes, 0, true},
    OpInfo{"async_wait", Other, kPending, 0, true},
    OpInfo{"cluster_barrier", Other, kNoAttributes, 0, true},
    OpInfo{"atomic_add", Other, kNoAttributes, 0, true},
    OpInfo{"reduce", Other, kReduction | kAxis, 0, false},
    OpInfo{"for", ControlFlow, kNoAttributes, 1, false},
    OpInfo{"if", ControlFlow, kNoAttributes, 2, false},
    OpInfo{"yield", Terminator, kNoAttributes, 0, true},
    OpInfo{"return", Terminator, kNoAttributes, 0, true},
};
// clang-format on
static_assert(kOpTable.size() == static_cast<size_t>(OpKind::Return) + 1, "one row per OpKind, in order");

constexpr std::array<std::string_view, 6> kPredicateNames = {"eq", "ne", "lt", "le", "gt", "ge"};
constexpr std::array<std::string_view, 3> kReduceNames = {"sum", "max", "min"};

template <typename Enum, size_t N>
bool find_name(const std::array<std::string_view, N>& names, std::string_view name, Enum& out) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == name) {
      out = static_cast<Enum>(i);
      return true;
    }
  return false;
}

}  // namespace

const OpInfo& op_info(OpKind kind) { return kOpTable[static_cast<size_t>(kind)]; }

bool has_result(OpKind kind) {
  return kind != OpKind::Store && kind != OpKind::AsyncCopy && kind != OpKind::AsyncCommit &&
         kind != OpKind::AsyncWait && kind != OpKind::ClusterBarrier && op_info(kind).category != Terminator;
}

bool op_kind_from_name(std::string_view name, OpKind& kind) {
  for (size_t i = 0; i < kOpTable.size(); ++i)
    if (kOpTable[i].name == name) {
      kind = static_cast<OpKind>(i);
      return true;
    }
  return false;
}

std::string_view to_string(CmpPredicate p) { return kPredicateNames[static_cast<size_t>(p)]; }
std::string_view to_string(ReduceKind k) { return kReduceNames[static_cast<size_t>(k)]; }
bool cmp_predicate_from_name(std::string_view name, CmpPredicate& p) { return find_name(kPredicateNames, name, p); }
bool reduce_kind_from_name(std::string_view name, ReduceKind& k) { return find_name(kReduceNames, name, k); }

}  // namespace xent::ir
