// The public API's argument checks through the C API (SPEC.md "Bad input"), on a machine without a driver: every bad
// option or argument gives XENT_ERROR_INVALID_ARGUMENT and a message naming it, and a call whose arguments are all
// valid gives XENT_ERROR_NO_DRIVER with the driver loader's message. That the checks pass without a driver is what
// shows they run before it is touched. Its own executable: XENT_CUDA_LIBRARY must point at a missing file before
// anything in the process resolves the driver (once per process), and the GPU suites need the real one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <thread>

#include "xent/xent.h"
#include "xent/xent.hpp"

namespace {

// Before main: no test can reach the driver first.
const bool kNoDriver = setenv("XENT_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1) == 0;

constexpr int64_t kVocab = 1000, kD0 = 2, kD1 = 3;
constexpr CUdeviceptr kLogits = 0x100000, kLabels = 0x200000, kGrad = 0x300000, kMask = 0x400000, kWeights = 0x500000,
                      kGradOutput = 0x600000, kWorkspace = 0x700000;

xent_options options() {
  xent_options o{};
  o.dtype = XENT_BF16;
  o.label_dtype = XENT_I64;
  o.vocab = kVocab;
  o.vocab_shard = -1;
  o.world = 1;
  o.reduction = XENT_REDUCTION_MEAN;
  return o;
}

// Valid arguments for every call: fake device addresses, which no valid call can reach without a driver.
xent_args args(const xent_options& o = options()) {
  xent_args a{};
  const int64_t width = o.vocab_shard == -1 ? o.vocab : o.vocab_shard;
  a.d0 = kD0;
  a.d1 = kD1;
  a.logits = {kLogits, kD1 * width, width, o.dtype};
  a.labels = {kLabels, kD1, 1, o.label_dtype};
  a.mask = {kMask, kD1, 1, XENT_I32};
  a.weights = kWeights;
  a.grad = {kGrad, kD1 * width, width, o.dtype};
  a.grad_output = {kGradOutput, 0, 0, XENT_F32};
  a.grad_scale = 1.0f;
  a.ignore_index = -100;
  a.num_label_tokens = -1.0f;
  a.workspace = kWorkspace;
  EXPECT_EQ(xent_workspace_bytes(kD0 * kD1, o.world, &a.workspace_bytes), XENT_OK);
  return a;
}

using Call = xent_status (*)(const xent_op*, const xent_args*, CUstream);
const std::pair<const char*, Call> kCalls[] = {{"forward", xent_forward},
                                               {"backward", xent_backward},
                                               {"fused", xent_fused},
                                               {"partials", xent_partials},
                                               {"finish_forward", xent_finish_forward}};

// The status is INVALID_ARGUMENT and the message names `argument`.
void expect_invalid(xent_status status, const std::string& argument) {
  EXPECT_EQ(status, XENT_ERROR_INVALID_ARGUMENT) << xent_last_error();
  EXPECT_NE(std::string(xent_last_error()).find(argument), std::string::npos)
      << "message does not name " << argument << ": " << xent_last_error();
}

void expect_no_driver(xent_status status) {
  EXPECT_EQ(status, XENT_ERROR_NO_DRIVER) << xent_last_error();
  EXPECT_EQ(std::string(xent_last_error()).rfind("CUDA driver not available: /nonexistent/libcuda.so.1", 0), 0)
      << xent_last_error();
}

xent_status create_with(void (*edit)(xent_options&)) {
  xent_options o = options();
  edit(o);
  xent_op* op = nullptr;
  xent_status status = xent_create(&o, &op);
  EXPECT_EQ(op == nullptr, status != XENT_OK);
  xent_destroy(op);
  return status;
}

// An op for `o`; fails the test if it cannot be created.
struct Op {
  explicit Op(const xent_options& o = options()) { EXPECT_EQ(xent_create(&o, &op), XENT_OK) << xent_last_error(); }
  ~Op() { xent_destroy(op); }
  xent_op* op = nullptr;
};

}  // namespace

TEST(ApiValidation, EnvironmentHasNoDriver) { ASSERT_TRUE(kNoDriver); }

TEST(ApiValidation, Options) {
  expect_invalid(create_with([](xent_options& o) { o.dtype = XENT_I32; }), "options.dtype");
  expect_invalid(create_with([](xent_options& o) { o.dtype = static_cast<xent_dtype>(9); }), "options.dtype");
  expect_invalid(create_with([](xent_options& o) { o.label_dtype = XENT_BF16; }), "options.label_dtype");
  expect_invalid(create_with([](xent_options& o) { o.reduction = static_cast<xent_reduction>(7); }),
                 "options.reduction");
  expect_invalid(create_with([](xent_options& o) { o.vocab = 0; }), "options.vocab");
  expect_invalid(create_with([](xent_options& o) { o.vocab_shard = 0; }), "options.vocab_shard");
  expect_invalid(create_with([](xent_options& o) { o.vocab_shard = 500; }), "options.vocab_shard");  // world 1
  expect_invalid(create_with([](xent_options& o) { o.label_smoothing = 1.5; }), "label_smoothing");
  expect_invalid(create_with([](xent_options& o) { o.label_smoothing = -0.1; }), "label_smoothing");
  expect_invalid(create_with([](xent_options& o) { o.z_loss = -1e-4; }), "z_loss");
  expect_invalid(create_with([](xent_options& o) { o.world = 0; }), "options.world");
  expect_invalid(create_with([](xent_options& o) { o.world = 2, o.rank = 2, o.vocab_shard = 500; }), "options.rank");
  expect_invalid(
      create_with([](xent_options& o) { o.world = 2, o.rank = 1, o.vocab_offset = 400, o.vocab_shard = 500; }),
      "options.vocab_offset");  // does not end at V
  expect_invalid(create_with([](xent_options& o) { o.world = 2, o.vocab_offset = 1, o.vocab_shard = 500; }),
                 "options.vocab_offset");  // rank 0 starts at 0
  expect_invalid(create_with([](xent_options& o) { o.world = 2, o.vocab_shard = 1000; }), "options.vocab_shard");
  expect_invalid(create_with([](xent_options& o) { o.tuning_threads = 33; }), "tuning.threads");
  EXPECT_EQ(create_with([](xent_options& o) { o.world = 3, o.rank = 1, o.vocab_offset = 300, o.vocab_shard = 301; }),
            XENT_OK);

  xent_op* op = nullptr;
  expect_invalid(xent_create(nullptr, &op), "options");
  xent_options o = options();
  expect_invalid(xent_create(&o, nullptr), "op");
}

TEST(ApiValidation, NullPointers) {
  Op plain;
  xent_options masked_weighted = options();
  masked_weighted.has_mask = masked_weighted.has_weights = 1;
  Op with_mask(masked_weighted);
  for (auto [name, call] : kCalls) {
    SCOPED_TRACE(name);
    xent_args a = args();
    expect_invalid(call(nullptr, &a, nullptr), "op");
    expect_invalid(call(plain.op, nullptr, nullptr), "args");
    a.labels.data = 0;
    expect_invalid(call(plain.op, &a, nullptr), "labels");
    a = args();
    a.workspace = 0;
    expect_invalid(call(plain.op, &a, nullptr), "workspace");
    a = args();
    a.mask.data = 0;
    expect_invalid(call(with_mask.op, &a, nullptr), "mask");
  }
  xent_args a = args();
  a.logits.data = 0;
  for (Call call : {xent_forward, xent_backward, xent_fused, xent_partials})
    expect_invalid(call(plain.op, &a, nullptr), "logits");
  a = args();
  a.grad.data = 0;
  for (Call call : {xent_backward, xent_fused}) expect_invalid(call(plain.op, &a, nullptr), "grad");
  a = args();
  a.grad_output.data = 0;
  expect_invalid(xent_backward(plain.op, &a, nullptr), "grad_output");
  a = args();
  a.weights = 0;
  for (Call call : {xent_forward, xent_backward, xent_fused, xent_finish_forward})
    expect_invalid(call(with_mask.op, &a, nullptr), "weights");

  // Unused tensors may be null: no grad for forward, no logits for finish_forward, no grad in place.
  a = args();
  a.grad.data = 0;
  a.grad_output.data = 0;
  expect_no_driver(xent_forward(plain.op, &a, nullptr));
  a.logits.data = 0;
  expect_no_driver(xent_finish_forward(plain.op, &a, nullptr));
  xent_options in_place = options();
  in_place.in_place = 1;
  Op inplace(in_place);
  a = args();
  a.grad.data = 0;
  expect_no_driver(xent_fused(inplace.op, &a, nullptr));
  a.grad.data = kGrad;
  expect_invalid(xent_fused(inplace.op, &a, nullptr), "grad");  // a second buffer where the op writes in place
}

TEST(ApiValidation, DtypeMismatches) {
  xent_options o = options();
  o.has_mask = 1;
  Op op(o);
  xent_args a = args();
  a.logits.dtype = XENT_F16;
  expect_invalid(xent_forward(op.op, &a, nullptr), "logits.dtype");
  a = args();
  a.labels.dtype = XENT_I32;
  expect_invalid(xent_forward(op.op, &a, nullptr), "labels.dtype");
  a = args();
  a.grad.dtype = XENT_F32;
  expect_invalid(xent_backward(op.op, &a, nullptr), "grad.dtype");
  a = args();
  a.grad_output.dtype = XENT_BF16;
  expect_invalid(xent_backward(op.op, &a, nullptr), "grad_output.dtype");
  a = args();
  a.mask.dtype = XENT_I64;
  expect_invalid(xent_forward(op.op, &a, nullptr), "mask.dtype");
}

TEST(ApiValidation, StridesAndAlignment) {
  Op op;
  auto forward = [&](void (*edit)(xent_args&)) {
    xent_args a = args();
    edit(a);
    return xent_forward(op.op, &a, nullptr);
  };
  expect_invalid(forward([](xent_args& a) { a.logits.stride1 = kVocab - 1; }), "logits");  // rows overlap
  expect_invalid(forward([](xent_args& a) { a.logits.stride0 = 0; }), "logits");           // d0 = 2 on one row
  expect_invalid(forward([](xent_args& a) { a.logits.stride0 = kVocab; }), "logits");      // interleaved
  expect_invalid(forward([](xent_args& a) { a.logits.stride1 = -kVocab; }), "logits");
  expect_invalid(forward([](xent_args& a) { a.labels.stride0 = -1; }), "labels");
  expect_invalid(forward([](xent_args& a) { a.logits.data += 1; }), "logits");  // not on a 2-byte element
  expect_invalid(forward([](xent_args& a) { a.workspace += 8; }), "workspace");
  expect_invalid(forward([](xent_args& a) { a.workspace_bytes -= 1; }), "workspace_bytes");
  expect_invalid(forward([](xent_args& a) { a.d0 = -1; }), "d0");
  expect_invalid(forward([](xent_args& a) { a.d0 = a.d1 = int64_t{1} << 20; }), "rows");
  xent_args a = args();
  a.grad.stride1 = 0;
  expect_invalid(xent_fused(op.op, &a, nullptr), "grad");

  // Legal layouts: [S, B, V] views, sliced rows, broadcast labels, any stride on an extent-1 dimension, unaligned
  // (the unaligned variant takes them).
  expect_no_driver(forward([](xent_args& a) { a.logits.stride0 = kVocab, a.logits.stride1 = kD0 * kVocab; }));
  expect_no_driver(forward([](xent_args& a) { a.logits.stride0 = (kD1 + 1) * kVocab; }));
  expect_no_driver(forward([](xent_args& a) { a.labels.stride0 = a.labels.stride1 = 0; }));
  expect_no_driver(forward([](xent_args& a) { a.d0 = 1, a.logits.stride0 = 0; }));
  expect_no_driver(forward(
      [](xent_args& a) { a.logits.data += 2, a.logits.stride1 = kVocab + 1, a.logits.stride0 = 3 * kVocab + 3; }));
}

TEST(ApiValidation, ShardedOpsNeedTheTwoPhaseForm) {
  xent_options o = options();
  o.world = 2;
  o.rank = 1;
  o.vocab_offset = 600;
  o.vocab_shard = 400;
  Op op(o);
  xent_args a = args(o);
  expect_invalid(xent_forward(op.op, &a, nullptr), "partials");
  expect_invalid(xent_fused(op.op, &a, nullptr), "partials");
  a.workspace_bytes = args().workspace_bytes;  // sized for one rank
  expect_invalid(xent_partials(op.op, &a, nullptr), "workspace_bytes");
  expect_no_driver(xent_partials(op.op, &(a = args(o)), nullptr));
}

TEST(ApiValidation, WorkspaceAndOutputsNeedNoDriver) {
  size_t one = 0, two = 0;
  ASSERT_EQ(xent_workspace_bytes(6, 1, &one), XENT_OK);
  ASSERT_EQ(xent_workspace_bytes(6, 2, &two), XENT_OK);
  EXPECT_GT(two, one);
  EXPECT_EQ(one, xent::CrossEntropy::workspace_bytes(6, 1));
  expect_invalid(xent_workspace_bytes(-1, 1, &one), "rows");
  expect_invalid(xent_workspace_bytes(6, 0, &one), "world");
  expect_invalid(xent_workspace_bytes(6, 1, nullptr), "bytes");

  Op op;
  xent_args a = args();
  struct xent_outputs out {};
  ASSERT_EQ(xent_outputs(op.op, &a, &out), XENT_OK) << xent_last_error();
  EXPECT_EQ(out.partials_rank_bytes, size_t(kD0 * kD1 * 6 * 4));
  EXPECT_EQ(out.partials + out.partials_rank_bytes, kWorkspace + a.workspace_bytes) << "partials end the workspace";
  for (CUdeviceptr p :
       {out.loss, out.row_loss, out.lse, out.logprob, out.entropy, out.scale, out.bad_labels, out.partials}) {
    EXPECT_GE(p, kWorkspace);
    EXPECT_LT(p, kWorkspace + a.workspace_bytes);
    EXPECT_EQ(p % 16, 0u);
  }
  a.workspace = 0;
  expect_invalid(xent_outputs(op.op, &a, &out), "workspace");
  a = args();
  expect_invalid(xent_outputs(op.op, &a, nullptr), "outputs");
  int64_t count = 0;
  expect_no_driver(xent_bad_labels(op.op, &a, nullptr, &count));
}

TEST(ApiValidation, ValidCallsReachTheDriver) {
  Op op;
  for (auto [name, call] : kCalls) {
    SCOPED_TRACE(name);
    xent_args a = args();
    expect_no_driver(call(op.op, &a, nullptr));
    a.d0 = 0;  // zero rows: still the loss to set
    if (call != xent_backward) expect_no_driver(call(op.op, &a, nullptr));
  }
  // The checks still come first once the driver has been tried.
  xent_args a = args();
  a.labels.data = 0;
  expect_invalid(xent_forward(op.op, &a, nullptr), "labels");
}

TEST(ApiValidation, LastErrorIsPerThread) {
  expect_invalid(xent_workspace_bytes(-1, 1, nullptr), "bytes");
  std::thread([] { expect_invalid(xent_create(nullptr, nullptr), "op"); }).join();
  EXPECT_NE(std::string(xent_last_error()).find("bytes"), std::string::npos) << xent_last_error();
  EXPECT_TRUE(std::regex_match(xent_version(), std::regex(R"(\d+\.\d+\.\d+)"))) << xent_version();
}

TEST(ApiValidation, CppApiThrowsErrorWithStatus) {
  xent::CrossEntropyOptions o;
  o.vocab = kVocab;
  o.label_smoothing = 2.0;
  try {
    xent::CrossEntropy op(o);
    FAIL() << "label_smoothing 2 accepted";
  } catch (const xent::Error& e) {
    EXPECT_EQ(e.status(), xent::Status::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("label_smoothing"), std::string::npos) << e.what();
  }
  o.label_smoothing = 0.1;
  xent::CrossEntropy op(o);
  xent::Args a;
  a.d0 = 1;
  a.logits = {kLogits, 0, 0, xent::ElementType::BF16};
  a.labels = {kLabels, 0, 0, xent::ElementType::I64};
  a.workspace = kWorkspace;
  a.workspace_bytes = xent::CrossEntropy::workspace_bytes(1, 1);
  try {
    op.fused(a, nullptr);  // no grad
    FAIL() << "fused without grad accepted";
  } catch (const xent::Error& e) {
    EXPECT_EQ(e.status(), xent::Status::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("grad"), std::string::npos) << e.what();
  }
  try {
    op.forward(a, nullptr);
    FAIL() << "forward ran without a driver";
  } catch (const xent::Error& e) {
    EXPECT_EQ(e.status(), xent::Status::NoDriver) << e.what();
  }
}
