// The collectives' logic without a GPU: the partition check's disagreements (a pure function over gathered
// descriptors), the in-process group's rounds over host memory (its copy is injectable), its errors, and bind's local
// check of rank and world, which comes before any device work.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "compiler/Error.h"
#include "runtime/collective/InProcessCollective.h"
#include "runtime/collective/Partition.h"
#include "xent/xent.hpp"

using namespace xent;

namespace {

// The descriptors of `shards` over one vocabulary, as every rank would send them.
std::vector<ShardDescriptor> partition(const std::vector<int64_t>& shards) {
  int64_t vocab = 0;
  for (int64_t s : shards) vocab += s;
  std::vector<ShardDescriptor> all;
  int64_t offset = 0;
  for (size_t r = 0; r < shards.size(); ++r) {
    CrossEntropyOptions o;
    o.vocab = vocab, o.vocab_offset = offset, o.vocab_shard = shards[r];
    o.rank = int(r), o.world = int(shards.size());
    o.label_smoothing = 0.1;
    all.push_back(describe(o));
    offset += shards[r];
  }
  return all;
}

std::vector<int64_t> unequal_8() { return {6283, 6282, 6282, 6282, 6282, 6282, 6282, 6282}; }  // 50257

void expect_mismatch(const std::vector<ShardDescriptor>& all, const std::string& rank, const std::string& field) {
  const std::string why = partition_mismatch(all);
  EXPECT_NE(why.find(rank), std::string::npos) << why;
  EXPECT_NE(why.find(field), std::string::npos) << why;
}

CUdeviceptr address(void* p) { return reinterpret_cast<CUdeviceptr>(p); }

void host_copy(CUdeviceptr to, CUdeviceptr from, size_t bytes, CUstream) {
  std::memcpy(reinterpret_cast<void*>(to), reinterpret_cast<const void*>(from), bytes);
}

}  // namespace

TEST(Partition, OneProblemAgrees) {
  EXPECT_EQ(partition_mismatch(partition(unequal_8())), "");
  EXPECT_EQ(partition_mismatch(partition({50257})), "");
  EXPECT_EQ(partition_mismatch(partition({1, 2, 3})), "");
}

TEST(Partition, NamesTheRankAndTheFieldThatDisagree) {
  auto all = partition(unequal_8());
  all[3].label_smoothing = 0.0;
  expect_mismatch(all, "rank 3", "options.label_smoothing");

  all = partition(unequal_8());
  all[5].z_loss = 1e-4;
  expect_mismatch(all, "rank 5", "options.z_loss");

  all = partition({100, 100});
  all[1].vocab = 300;
  expect_mismatch(all, "rank 1", "options.vocab");

  all = partition({100, 100});
  all[1].reduction = int32_t(LossReduction::Sum);
  expect_mismatch(all, "rank 1", "options.reduction");

  all = partition({100, 100, 100});
  all[2].world = 4;
  expect_mismatch(all, "rank 2", "options.world");

  all = partition({100, 100});
  all[1].entropy = 1;
  expect_mismatch(all, "rank 1", "options.entropy");
}

TEST(Partition, ShardsMustBeContiguousAndEndAtV) {
  auto all = partition({100, 100, 100});
  all[1].vocab_offset = 101;  // a gap after rank 0
  expect_mismatch(all, "rank 1", "rank 0's shard ends at 100");

  all = partition({100, 100, 100});
  all[2].vocab_shard = 99;  // the last shard stops short of V
  expect_mismatch(all, "rank 2", "must sum to V");

  all = partition({100, 100});
  all[0].vocab_shard = 120, all[1].vocab_offset = 120, all[1].vocab_shard = 80;  // a different but valid split
  EXPECT_EQ(partition_mismatch(all), "");
  all[1].vocab_offset = 100;  // rank 1 believes the old split: overlap
  expect_mismatch(all, "rank 1", "options.vocab_offset is 100");
}

TEST(InProcessGroup, EveryRoundGathersEverySliceIntoEveryRank) {
  constexpr int W = 4, kRounds = 3;
  constexpr size_t kSlice = 5;
  auto group = std::make_shared<InProcessGroup>(W, host_copy);
  std::vector<std::vector<char>> receive(W, std::vector<char>(W * kSlice));
  std::vector<std::thread> threads;
  for (int r = 0; r < W; ++r)
    threads.emplace_back([&, r] {
      InProcessCollective collective(group, r);
      for (int round = 0; round < kRounds; ++round) {
        // Rank r's slice of its own receive buffer is its send buffer (in place), as in forward.
        char* mine = receive[r].data() + r * kSlice;
        std::memset(mine, 'a' + 4 * round + r, kSlice);
        collective.all_gather(address(mine), address(receive[r].data()), kSlice, nullptr);
        for (int from = 0; from < W; ++from)
          for (size_t b = 0; b < kSlice; ++b) EXPECT_EQ(receive[r][from * kSlice + b], char('a' + 4 * round + from));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(group->rounds(), kRounds);
}

TEST(InProcessGroup, WorldOfOneCompletesAlone) {
  auto group = std::make_shared<InProcessGroup>(1, host_copy);
  InProcessCollective only(group, 0);
  char buffer[8] = {};
  only.all_gather(address(buffer), address(buffer), sizeof(buffer), nullptr);
  EXPECT_EQ(group->rounds(), 1);
}

TEST(InProcessGroup, WrongWorldAndRankAreErrors) {
  EXPECT_THROW(InProcessGroup(0, host_copy), UserError);
  auto group = std::make_shared<InProcessGroup>(2, host_copy);
  EXPECT_THROW(InProcessCollective(group, 2), UserError);
  EXPECT_THROW(InProcessCollective(group, -1), UserError);
  EXPECT_THROW(InProcessCollective(nullptr, 0), UserError);
}

TEST(InProcessGroup, AMissingRankTimesOutNamingIt) {
  auto group = std::make_shared<InProcessGroup>(3, host_copy, std::chrono::milliseconds(50));
  InProcessCollective rank0(group, 0);
  char buffer[6] = {};
  try {
    rank0.all_gather(address(buffer), address(buffer), 2, nullptr);
    FAIL() << "returned without ranks 1 and 2";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("rank(s) 1, 2 of 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(group->rounds(), 0);
}

TEST(InProcessGroup, ARankComesOnceAndWithTheRoundsSize) {
  auto group = std::make_shared<InProcessGroup>(2, host_copy, std::chrono::milliseconds(600));
  char buffer[16] = {};
  std::thread waiting([&] {  // rank 0 arrives, and times out since rank 1 never joins its round
    EXPECT_THROW(InProcessCollective(group, 0).all_gather(address(buffer), address(buffer), 8, nullptr), UserError);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto message = [&](int rank, size_t bytes) {
    try {
      InProcessCollective(group, rank).all_gather(address(buffer + 8 * rank), address(buffer), bytes, nullptr);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(0, 8).find("rank 0 called twice in round 0"), std::string::npos) << message(0, 8);
  EXPECT_NE(message(1, 4).find("rank 1 passed 4 bytes"), std::string::npos) << message(1, 4);
  waiting.join();
  EXPECT_EQ(group->rounds(), 0);
}

TEST(Bind, RankAndWorldMustMatchTheOptionsBeforeAnyDeviceWork) {
  CrossEntropyOptions o;
  o.vocab = 200, o.vocab_offset = 0, o.vocab_shard = 100, o.rank = 0, o.world = 2;
  CrossEntropy op(o);
  auto group = std::make_shared<InProcessGroup>(2, host_copy);
  try {
    op.bind(std::make_shared<InProcessCollective>(group, 1));
    FAIL() << "bound rank 0's op to rank 1's collective";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("the collective is rank 1 of 2 but the options say rank 0 of 2"),
              std::string::npos)
        << e.what();
  }
  try {
    op.bind(nullptr);
    FAIL() << "bound to no collective";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::InvalidArgument);
  }
}
