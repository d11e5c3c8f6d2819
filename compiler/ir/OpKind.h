// The operation set of the xent IR, and what each operation is (name, attributes, regions).
//
// Elementwise operations work on scalars or on tiles of one shape; the builder splats a scalar operand to the tile's
// shape, so a kernel author can write `x - m` with a tile x and a scalar m. Typing rules: TypeRules.h.
//
//   constant   <literal> : T              a scalar literal
//   constexpr  "name" : T                 a named compile-time parameter, replaced by a constant in specialization
//   program_id <axis> : i32               this program instance's index along a grid axis (0..2)
//   arange     <start>, <end> : i32[n]    the tile [start, start + 1, ..., end - 1]
//   splat      s : T[shape]               a tile with every element equal to the scalar s
//   broadcast  t, <axis> : T[m,n]         a 1-D tile repeated along the other axis of a 2-D result; t lies on `axis`
//   neg exp exp2 log log2 tanh            unary float math (neg also on integers)
//   add sub mul div rem max min           binary arithmetic (rem on integers); max/min return the non-NaN operand
//   and or                                on i1 and integers
//   cmp <pred> a, b : i1                  eq ne lt le gt ge; signed for integers, ordered for floats (ne: unordered)
//   select c, a, b                        c ? a : b, elementwise
//   cast  x : T                           int<->int (sign-extend/truncate, i1 zero-extends), float<->float
//                                         (round to nearest even), int<->float
//   addptr p, offset                      p + offset elements
//   load   p [, mask [, other]]           masked-off elements read nothing and give `other` (default 0)
//   store  p, v [, mask]                  masked-off elements write nothing; p points to global memory
//   shared_alloc <n> : ptr<T, shared>     n elements of T in the program's shared memory, 16-byte aligned, alive
//                                         for the whole program; only at the kernel's top level
//   async_copy dst, src [, mask]          starts copying *src (global) to *dst (shared) element by element, without
//                                         holding the data in registers; masked-off elements copy nothing. What it
//                                         writes is defined only after the next async_wait.
//   async_commit                          closes the group of the async copies started since the last commit (or
//                                         the kernel's start). Only at the kernel's top level.
//   async_wait [pending <n>]              waits until the program's async copies are done, for all of its threads
//                                         (a barrier of the program); with n > 0, all but those of the n groups
//                                         committed last (and of any copies not yet committed). Anywhere: `if`
//                                         conditions and loop bounds are scalars, the same in all its threads.
//   cluster_barrier                       waits until every program of the thread-block cluster (kernel attribute
//                                         "cluster") arrives; orders their memory accesses before it (release) before
//                                         those after it (acquire). Only at the kernel's top level, so all reach it.
//   atomic_add p, v : i32                 once for the program: adds the scalar v to the i32 at p (global) and gives
//                                         every thread the value it held before. The program's stores before it
//                                         happen before it, and the stores that preceded other programs' atomic_add
//                                         on p before those are seen by the program's loads after it; so a counter
//                                         tells the last program of a grid that every other one has finished its
//                                         stores. Not inside a loop (inside an `if` all threads of a program take
//                                         the same branch).
//   reduce <sum|max|min> t, <axis>        fold a tile along an axis (rank 1 gives a scalar)
//   for    lb, ub, step, inits... { ^(iv, iters...) ... yield }    counted loop with loop-carried values
//   if     c { ... yield } else { ... yield }                      results are the yielded values
//   yield  values...                      ends a region
//   return                                ends the kernel body
#pragma once

#include <cstdint>
#include <string_view>

namespace xent::ir {

// Grouped as in the table above.
// clang-format off
enum class OpKind : uint8_t {
  Constant, ConstExpr, ProgramId, Arange, Splat, Broadcast,
  Neg, Exp, Exp2, Log, Log2, Tanh,
  Add, Sub, Mul, Div, Rem, Max, Min, And, Or,
  Cmp, Select, Cast,
  AddPtr, Load, Store, SharedAlloc, AsyncCopy, AsyncCommit, AsyncWait, ClusterBarrier, AtomicAdd,
  Reduce,
  For, If, Yield, Return,
};
// clang-format on

enum class CmpPredicate : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };
enum class ReduceKind : uint8_t { Sum, Max, Min };

// A scalar literal; which member is meaningful follows from the value's type.
struct Literal {
  int64_t integer = 0;
  double real = 0.0;
  bool operator==(const Literal&) const = default;
};

enum class OpCategory : uint8_t { Leaf, Unary, Binary, Other, ControlFlow, Terminator };

// Bit set of the attributes an operation kind carries.
enum AttributeBits : uint8_t {
  kNoAttributes = 0,
  kLiteral = 1 << 0,
  kSymbol = 1 << 1,
  kAxis = 1 << 2,
  kRange = 1 << 3,
  kPredicate = 1 << 4,
  kReduction = 1 << 5,
  kPending = 1 << 6,
};

struct OpInfo {
  std::string_view name;
  OpCategory category;
  uint8_t attributes;
  unsigned num_regions;
  bool has_side_effects;  // kept by dead-code elimination even when unused
};

const OpInfo& op_info(OpKind kind);
// False for the operations that define no value: store, async_copy, async_commit, async_wait, cluster_barrier and the
// terminators.
bool has_result(OpKind kind);
// The kind whose printed name is `name`; false when there is none.
bool op_kind_from_name(std::string_view name, OpKind& kind);

std::string_view to_string(CmpPredicate p);
std::string_view to_string(ReduceKind k);
bool cmp_predicate_from_name(std::string_view name, CmpPredicate& p);
bool reduce_kind_from_name(std::string_view name, ReduceKind& k);

}  // namespace xent::ir
