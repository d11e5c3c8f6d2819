// A machine without NCCL, simulated by pointing XENT_NCCL_LIBRARY at a file that does not exist: every way into NCCL
// reports the same clear error, after the options are checked, and nothing crashes. Its own executable, because NCCL
// is loaded once per process.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "runtime/collective/NcclLibrary.h"
#include "xent/xent.h"
#include "xent/xent.hpp"

using namespace xent;

TEST(NcclMissing, IsAClearErrorNotACrash) {
  ASSERT_EQ(setenv("XENT_NCCL_LIBRARY", "/nonexistent/libnccl.so.2", 1), 0);

  std::string why;
  EXPECT_FALSE(nccl::available(&why));
  EXPECT_EQ(why.rfind("NCCL not available: /nonexistent/libnccl.so.2: cannot open shared object file", 0), 0) << why;
  EXPECT_NE(why.find("install NCCL (libnccl.so.2) or use the two-phase API"), std::string::npos) << why;
  EXPECT_THROW(nccl::library(), nccl::NcclUnavailable);

  char id[XENT_NCCL_UNIQUE_ID_BYTES];
  EXPECT_EQ(xent_nccl_unique_id(id), XENT_ERROR_COLLECTIVE);
  EXPECT_EQ(xent_last_error(), why);

  xent_options o{};
  o.dtype = XENT_BF16, o.label_dtype = XENT_I64, o.vocab = 1000, o.vocab_shard = -1, o.world = 1;
  o.reduction = XENT_REDUCTION_MEAN;
  xent_op* op = reinterpret_cast<xent_op*>(1);
  EXPECT_EQ(xent_create_nccl_from_id(&o, id, &op), XENT_ERROR_COLLECTIVE);
  EXPECT_EQ(op, nullptr);
  EXPECT_EQ(xent_last_error(), why);
  int comm = 0;  // never dereferenced: NCCL is missing
  EXPECT_EQ(xent_create_nccl(&o, &comm, &op), XENT_ERROR_COLLECTIVE);
  EXPECT_EQ(xent_last_error(), why);

  o.vocab = 0;  // the options come first
  EXPECT_EQ(xent_create_nccl_from_id(&o, id, &op), XENT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(xent_last_error()).find("options.vocab"), std::string::npos) << xent_last_error();

  try {
    nccl_collective(id, 0, 1);
    FAIL() << "made a communicator without NCCL";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Collective);
    EXPECT_EQ(e.what(), why);
  }
}
