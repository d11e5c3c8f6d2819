#include "tools/xent/TensorParallel.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "compiler/Error.h"
#include "runtime/collective/NcclCollective.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"
#include "tools/xent/Commands.h"
#include "tools/xent/ProcessGroup.h"

namespace xent::tools {
namespace {

// One machine's GPUs: a larger --tp is a typing error, not a machine.
constexpr int kMaxWorld = 64;

void require_gpus(const std::string& command, int world) {
  const std::string needs =
      cat("--tp ", world, ": xent ", command, " needs ", world, " GPU", world > 1 ? "s" : "", ", one per rank");
  int count = 0;
  try {
    count = cuda::device_count();
  } catch (const cuda::DriverUnavailable& e) {
    throw UserError(cat(needs, ", and finds none: ", e.what()));
  } catch (const cuda::CudaError& e) {
    throw UserError(cat(needs, ", and finds none: the CUDA driver does not start: ", e.what()));
  }
  if (count < world) throw UserError(cat(needs, "; this machine has ", count));
}

// A directory only this user can enter, removed with everything in it when the object goes.
class PrivateDirectory {
 public:
  PrivateDirectory() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / cat("xent-tp-", getpid(), "-XXXXXX")).string();  // mode 0700
    if (!mkdtemp(pattern.data()))
      throw UserError(cat("cannot create a temporary directory ", pattern, ": ", std::strerror(errno)));
    path_ = pattern;
  }
  ~PrivateDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  PrivateDirectory(const PrivateDirectory&) = delete;
  PrivateDirectory& operator=(const PrivateDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A new NCCL unique id in `directory`; returns the file's path. Written under another name and renamed, so a rank
// never reads a partial id.
std::string write_unique_id(const std::filesystem::path& directory) {
  char id[kNcclUniqueIdBytes];
  NcclCollective::unique_id(id);
  const std::filesystem::path partial = directory / "nccl-id.partial", complete = directory / "nccl-id";
  std::ofstream out(partial, std::ios::binary);
  out.write(id, sizeof(id));
  out.close();
  if (!out) throw UserError(cat("cannot write the NCCL unique id to ", partial.string()));
  std::filesystem::rename(partial, complete);
  return complete.string();
}

// The arguments this process was started with, argv[0] included: the ranks get exactly what the user typed.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> arguments;
  for (std::string argument; std::getline(in, argument, '\0');) arguments.push_back(argument);
  return arguments;
}

}  // namespace

void TensorParallelOptions::add_to(CLI::App& command) {
  command
      .add_option("--tp", world,
                  cat("tensor parallel: W processes, one per GPU of this machine (1 to ", kMaxWorld,
                      "), each holding V / W columns, joined through NCCL"))
      ->check(CLI::Range(1, kMaxWorld));
  // Hidden: the parent passes them to the processes it starts.
  command.add_option("--tp-rank", rank)->group("")->needs("--tp");
  command.add_option("--tp-id-file", id_file)->group("")->needs("--tp-rank");
}

void launch_ranks(const std::string& command, int world) {
  require_gpus(command, world);
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/1);  // inherited by every rank
  PrivateDirectory directory;
  const std::string id_file = write_unique_id(directory.path());
  std::vector<std::vector<std::string>> arguments;
  for (int r = 0; r < world; ++r) {
    arguments.push_back(own_arguments());
    for (const std::string& extra : {std::string("--tp-rank"), std::to_string(r), std::string("--tp-id-file"), id_file})
      arguments.back().push_back(extra);
  }
  std::cout.flush();
  const GroupEnd end = run_group(std::filesystem::read_symlink("/proc/self/exe").string(), arguments);

  std::vector<std::string> failures;
  if (end.interrupted) failures.push_back(cat("interrupted by signal ", end.interrupted, "; every rank stopped"));
  for (int r = 0; r < world; ++r) {
    const MemberEnd& rank = end.members[r];
    if (WIFEXITED(rank.status) && WEXITSTATUS(rank.status) == 0) continue;
    // A rank stopped because another broke was probably waiting for it in a collective: name the cause.
    const std::string after =
        rank.stopped && end.first_broken >= 0 ? cat(", after rank ", end.first_broken, " broke") : "";
    failures.push_back(cat("rank ", r, " (GPU ", r, ") ", describe(rank), after));
  }
  if (failures.empty()) return;
  std::string message = cat(command, " --tp ", world, ": ");
  for (size_t i = 0; i < failures.size(); ++i) message += (i ? "; " : "") + failures[i];
  throw CommandFailed(message);
}

void run_as_rank(const TensorParallelOptions& options, const std::function<void()>& work) {
  const std::string rank = cat("rank ", options.rank, ": ");
  try {
    work();
  } catch (const CommandFailed& e) {
    throw CommandFailed(rank + e.what());
  } catch (const UserError& e) {
    throw UserError(rank + e.what());
  } catch (const std::exception& e) {
    throw std::runtime_error(rank + e.what());
  }
}

Rank join_ranks(const TensorParallelOptions& options) {
  if (options.rank >= options.world)
    throw UserError(cat("--tp-rank: ", options.rank, " is not a rank of --tp ", options.world));
  cuda::ensure_context(options.rank);
  std::ifstream in(options.id_file, std::ios::binary);
  char id[kNcclUniqueIdBytes + 1];
  in.read(id, sizeof(id));
  if (in.gcount() != std::streamsize(kNcclUniqueIdBytes))
    throw UserError(cat("--tp-id-file: ", options.id_file, " does not hold the ", kNcclUniqueIdBytes,
                        " bytes of an NCCL unique id"));
  Rank rank;
  rank.rank = options.rank;
  rank.world = options.world;
  rank.collective = NcclCollective::create(id, options.rank, options.world);
  rank.device = cuda::current_device().name;
  return rank;
}

void gather_from_ranks(Collective& collective, const void* mine, size_t bytes, void* all, CUstream stream) {
  if (bytes == 0) return;
  cuda::DeviceBuffer buffer(bytes * collective.world());
  const size_t at = bytes * collective.rank();
  buffer.upload(mine, bytes, at);
  collective.all_gather(buffer.address() + at, buffer.address(), bytes, stream);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream));
  buffer.download(all, buffer.bytes());
}

void print_whole(const std::string& text) {
  std::cout.flush();
  const char* at = text.data();
  size_t left = text.size();
  while (left) {
    const ssize_t written = ::write(STDOUT_FILENO, at, left);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return;
    at += written, left -= size_t(written);
  }
}

std::string all_ranks(int world) { return world == 1 ? "1 rank" : cat("all ", world, " ranks"); }

}  // namespace xent::tools
