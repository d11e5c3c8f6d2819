// Thread-block clusters through every layer that sees them: the cluster_barrier operation in the builder, verifier and
// parser, its lowering to PTX (sm_90 only), and the interpreter running a cluster's programs together.
#include <gtest/gtest.h>

#include <vector>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "compiler/interp/Interpreter.h"
#include "compiler/ir/Builder.h"
#include "compiler/ir/Parser.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Verifier.h"
#include "tests/codegen_check.h"
#include "tests/user_error.h"

using namespace xent;
using namespace xent::ir;
using xent::testing::user_error;

namespace {

constexpr int kCluster = 4;

// Program p writes p + 1 into slot p, waits for its cluster, then copies its right neighbour's slot (within the
// cluster, wrapping around) into out[p]: correct only if every program of the cluster wrote before any reads.
std::unique_ptr<Kernel> neighbour_exchange(int cluster = kCluster) {
  KernelBuilder k("exchange");
  Expr slots = k.param(ptr(ScalarType::I32), "slots");
  Expr out = k.param(ptr(ScalarType::I32), "out");
  Expr p = k.program_id(0);
  k.store(k.addptr(slots, p), p + 1.0);
  k.cluster_barrier();
  Expr neighbour = (p / double(cluster)) * double(cluster) + (p % double(cluster) + 1.0) % double(cluster);
  k.store(k.addptr(out, p), k.load(k.addptr(slots, neighbour)));
  k.set_attribute("cluster", cluster);
  return k.finish();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(Cluster, BarrierRoundTripsThroughText) {
  auto kernel = neighbour_exchange();
  std::string text = print(*kernel);
  EXPECT_TRUE(contains(text, "cluster_barrier")) << text;
  EXPECT_TRUE(contains(text, "cluster = 4")) << text;
  EXPECT_EQ(print(*parse_kernel(text)), text);
}

TEST(Cluster, BarrierOnlyAtTheTopLevel) {
  KernelBuilder k("branchy");
  Expr p = k.program_id(0);
  std::string message = user_error([&] { k.if_then(p == 0.0, [&] { k.cluster_barrier(); }); });
  EXPECT_TRUE(contains(message, "top level")) << message;

  // Built directly (as a pass could), the verifier refuses it too.
  auto kernel = std::make_unique<Kernel>("nested");
  Block& body = kernel->body();
  Attributes flag;
  flag.literal.integer = 1;
  Value* yes = body.push_back(Operation::create(OpKind::Constant, {}, {i1()}, flag))->result();
  Operation* branch = body.push_back(Operation::create(OpKind::If, {yes}, {}, {}, 2));
  branch->region(0).push_back(Operation::create(OpKind::ClusterBarrier, {}, {}, {}));
  branch->region(0).push_back(Operation::create(OpKind::Yield, {}, {}, {}));
  branch->region(1).push_back(Operation::create(OpKind::Yield, {}, {}, {}));
  body.push_back(Operation::create(OpKind::Return, {}, {}, {}));
  try {
    verify(*kernel);
    ADD_FAILURE() << "the verifier accepted a nested cluster_barrier";
  } catch (const InternalError& e) {
    EXPECT_TRUE(contains(e.what(), "top level")) << e.what();
  }
}

TEST(Cluster, ClusterAttributeIsBounded) {
  auto kernel = neighbour_exchange();
  kernel->attributes()["cluster"] = kMaxCluster + 1;
  try {
    verify(*kernel);
    ADD_FAILURE() << "the verifier accepted cluster = " << kMaxCluster + 1;
  } catch (const InternalError& e) {
    EXPECT_TRUE(contains(e.what(), "cluster = 17 must lie in [1, 16]")) << e.what();
  }
}

TEST(Cluster, LowersToTheClusterBarrierOnSm90Only) {
  auto kernel = neighbour_exchange();
  codegen::CompiledKernel out = codegen::compile_to_ptx(*kernel, {.sm = "sm_90"});
  EXPECT_TRUE(xent::testing::file_check(out.ptx, {"CHECK: st.global", "CHECK: barrier.cluster.arrive",
                                                  "CHECK: barrier.cluster.wait", "CHECK: ld.global"}))
      << out.ptx;
  EXPECT_EQ(out.cluster, kCluster);
  if (!xent::testing::ptxas_path().empty()) {
    auto assembled = xent::testing::run_ptxas(out.ptx, "sm_90");
    EXPECT_EQ(assembled.status, 0) << assembled.output;
  }
  std::string message = user_error([&] { codegen::compile_to_ptx(*kernel, {.sm = "sm_80"}); });
  EXPECT_TRUE(contains(message, "sm_90")) << message;
}

TEST(Cluster, InterpreterRunsAClusterTogether) {
  const int programs = 3 * kCluster;
  std::vector<int32_t> slots(programs, 0), out(programs, -1);
  std::vector<interp::Buffer> buffers = {{slots.data(), slots.size() * 4}, {out.data(), out.size() * 4}};
  std::vector<interp::Arg> args = {interp::Arg::pointer(slots.data()), interp::Arg::pointer(out.data())};
  interp::run(*neighbour_exchange(), {programs, 1, 1}, args, buffers);
  for (int p = 0; p < programs; ++p) EXPECT_EQ(out[p], (p / kCluster) * kCluster + (p + 1) % kCluster + 1) << p;

  std::string message = user_error([&] { interp::run(*neighbour_exchange(), {programs - 1, 1, 1}, args, buffers); });
  EXPECT_TRUE(contains(message, "multiple of its cluster size 4")) << message;
}

TEST(Cluster, AFailingProgramDoesNotHangItsCluster) {
  const int programs = kCluster;
  std::vector<int32_t> slots(programs - 1, 0), out(programs, -1);  // the last program's slot is out of bounds
  std::vector<interp::Buffer> buffers = {{slots.data(), slots.size() * 4}, {out.data(), out.size() * 4}};
  std::vector<interp::Arg> args = {interp::Arg::pointer(slots.data()), interp::Arg::pointer(out.data())};
  std::string message = user_error([&] { interp::run(*neighbour_exchange(), {programs, 1, 1}, args, buffers); });
  EXPECT_TRUE(contains(message, "program (3, 0, 0)")) << message;
}
