#include <gtest/gtest.h>

#include <string>

#include "compiler/Error.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Verifier.h"

using namespace xent;
using namespace xent::ir;

// Broken IR is built directly with Operation::create, as a pass would, since the builder refuses to make it.
namespace {

Operation* append(Block& block, OpKind kind, std::vector<Value*> operands, std::vector<Type> results,
                  unsigned regions = 0) {
  return block.push_back(Operation::create(kind, std::move(operands), std::move(results), {}, regions));
}

Value* constant(Block& block, Type type, int64_t value) {
  Attributes a;
  if (type.is_float())
    a.literal.real = static_cast<double>(value);
  else
    a.literal.integer = value;
  return block.push_back(Operation::create(OpKind::Constant, {}, {type}, a))->result();
}

void ret(Block& block) { append(block, OpKind::Return, {}, {}); }

// A `for %iv = 0 to n step 1` over i32 bounds with the given initial values; the body is left empty.
Operation* counted_loop(Block& block, Value* n, std::vector<Value*> initial) {
  std::vector<Value*> operands{constant(block, i32(), 0), n, constant(block, i32(), 1)};
  std::vector<Type> types;
  for (Value* v : initial) {
    operands.push_back(v);
    types.push_back(v->type());
  }
  Operation* loop = append(block, OpKind::For, operands, types, 1);
  loop->region(0).add_argument(i32(), "iv");
  for (Value* v : initial) loop->region(0).add_argument(v->type());
  return loop;
}

void expect_rejected(const Kernel& kernel, const std::string& what) {
  try {
    verify(kernel);
    ADD_FAILURE() << "the verifier accepted:\n" << print(kernel);
  } catch (const InternalError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(what), std::string::npos) << "expected '" << what << "' in:\n" << msg;
  }
}

}  // namespace

TEST(Verifier, AcceptsWellFormedLoopsAndIfs) {
  Kernel k("good");
  Value* n = k.add_param(i32(), "n");
  Operation* loop = counted_loop(k.body(), n, {constant(k.body(), f32(), 0)});
  Block& body = loop->region(0);
  Value* c = append(body, OpKind::Cmp, {body.argument(0), n}, {i1()})->result();
  Operation* branch = append(body, OpKind::If, {c}, {f32()}, 2);
  append(branch->region(0), OpKind::Yield, {body.argument(1)}, {});
  append(branch->region(1), OpKind::Yield, {constant(branch->region(1), f32(), 1)}, {});
  append(body, OpKind::Yield, {branch->result()}, {});
  ret(k.body());
  EXPECT_NO_THROW(verify(k)) << print(k);
}

TEST(Verifier, RejectsUseBeforeDefinition) {
  Kernel k("k");
  Value* c = constant(k.body(), i32(), 1);
  k.body().insert(k.body().ops().begin(), Operation::create(OpKind::Add, {c, c}, {i32()}));
  ret(k.body());
  expect_rejected(k, "'add' (built at <pass>): operand 0 is used before its definition or out of its scope");
}

TEST(Verifier, RejectsLoopBodyValueUsedAfterTheLoop) {
  Kernel k("k");
  Value* n = k.add_param(i32(), "n");
  Operation* loop = counted_loop(k.body(), n, {});
  Block& body = loop->region(0);
  Value* inside = append(body, OpKind::Add, {body.argument(0), body.argument(0)}, {i32()})->result();
  append(body, OpKind::Yield, {}, {});
  append(k.body(), OpKind::Mul, {n, inside}, {i32()});
  ret(k.body());
  expect_rejected(k, "'mul' (built at <pass>): operand 1 is used before its definition or out of its scope");
}

TEST(Verifier, RejectsWrongResultType) {
  Kernel k("k");
  Value* n = k.add_param(i32(), "n");
  append(k.body(), OpKind::Add, {n, n}, {f32()});
  ret(k.body());
  expect_rejected(k, "'add' (built at <pass>): result is f32, expected i32");
}

TEST(Verifier, RejectsOperandsTheTypingRulesReject) {
  Kernel k("k");
  Value* n = k.add_param(i32(), "n");
  Value* x = k.add_param(f32(), "x");
  append(k.body(), OpKind::Add, {n, x}, {i32()});
  ret(k.body());
  expect_rejected(k, "'add': both operands must have the same type, got i32 and f32");
}

TEST(Verifier, RejectsRegionsWithoutYield) {
  Kernel loop_kernel("k");
  Value* n = loop_kernel.add_param(i32(), "n");
  Operation* loop = counted_loop(loop_kernel.body(), n, {});
  append(loop->region(0), OpKind::Add, {n, n}, {i32()});
  ret(loop_kernel.body());
  expect_rejected(loop_kernel, "'for' (built at <pass>): the loop body must end in 'yield'");

  Kernel if_kernel("k");
  Value* c = if_kernel.add_param(i1(), "c");
  Operation* branch = append(if_kernel.body(), OpKind::If, {c}, {}, 2);
  append(branch->region(0), OpKind::Yield, {}, {});
  ret(if_kernel.body());
  expect_rejected(if_kernel, "'if' (built at <pass>): the else region must end in 'yield'");
}

TEST(Verifier, RejectsYieldCountMismatch) {
  Kernel k("k");
  Value* n = k.add_param(i32(), "n");
  Operation* loop = counted_loop(k.body(), n, {n});
  append(loop->region(0), OpKind::Yield, {}, {});
  ret(k.body());
  expect_rejected(k, "'yield' (built at <pass>): yields 0 values, the parent has 1 results");
}

TEST(Verifier, RejectsYieldTypeMismatch) {
  Kernel k("k");
  Value* c = k.add_param(i1(), "c");
  Value* n = k.add_param(i32(), "n");
  Value* x = k.add_param(f32(), "x");
  Operation* branch = append(k.body(), OpKind::If, {c}, {f32()}, 2);
  append(branch->region(0), OpKind::Yield, {n}, {});
  append(branch->region(1), OpKind::Yield, {x}, {});
  ret(k.body());
  expect_rejected(k, "'yield' (built at <pass>): yielded value 0 is i32, the result is f32");
}

TEST(Verifier, RejectsTerminatorInTheMiddleOfABlock) {
  Kernel k("k");
  ret(k.body());
  constant(k.body(), i32(), 1);
  ret(k.body());
  expect_rejected(k, "'return' (built at <pass>): a terminator must end its block");

  Kernel loop_kernel("k");
  Value* n = loop_kernel.add_param(i32(), "n");
  Operation* loop = counted_loop(loop_kernel.body(), n, {});
  append(loop->region(0), OpKind::Yield, {}, {});
  append(loop->region(0), OpKind::Add, {n, n}, {i32()});
  append(loop->region(0), OpKind::Yield, {}, {});
  ret(loop_kernel.body());
  expect_rejected(loop_kernel, "'yield' (built at <pass>): a terminator must end its block");
}

TEST(Verifier, RejectsKernelWithoutReturn) {
  Kernel empty("empty");
  expect_rejected(empty, "IR verification failed in kernel 'empty': the kernel body must end in 'return'");

  Kernel k("k");
  Value* n = k.add_param(i32(), "n");
  append(k.body(), OpKind::Add, {n, n}, {i32()});
  expect_rejected(k, "the kernel body must end in 'return'");
}

TEST(Verifier, RejectsForWithMismatchedBoundTypes) {
  Kernel k("k");
  Value* n = k.add_param(i64(), "n");
  Value* lower = constant(k.body(), i32(), 0);
  Value* step = constant(k.body(), i32(), 1);
  Operation* loop = append(k.body(), OpKind::For, {lower, n, step}, {}, 1);
  loop->region(0).add_argument(i32(), "iv");
  append(loop->region(0), OpKind::Yield, {}, {});
  ret(k.body());
  expect_rejected(k, "'for' (built at <pass>): bounds and step must have one type");
}

TEST(Verifier, RejectsIfWithNonBoolCondition) {
  Kernel k("k");
  Value* n = k.add_param(i32(), "n");
  Operation* branch = append(k.body(), OpKind::If, {n}, {}, 2);
  append(branch->region(0), OpKind::Yield, {}, {});
  append(branch->region(1), OpKind::Yield, {}, {});
  ret(k.body());
  expect_rejected(k, "'if' (built at <pass>): 'if' needs one scalar i1 condition");
}

TEST(Verifier, MessageCarriesThePrintedKernel) {
  Kernel k("shown");
  Value* n = k.add_param(i32(), "n");
  append(k.body(), OpKind::Add, {n, n}, {f32()});
  ret(k.body());
  expect_rejected(k, "kernel @shown(%n: i32) {\n  %1 = add %n, %n : f32\n  return\n}\n");
}
