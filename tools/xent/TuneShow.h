// `xent tune --show`: the tuning results in the disk cache (XENT_CACHE_DIR, else ~/.cache/xent), one per kernel,
// spec, device and row bucket: the winner and its time, the heuristic's choice, its time and their ratio. Entries of
// another xent build are listed too, marked as not used by this one. Needs no GPU.
#pragma once

namespace xent::tools {

void show_tuning();

}  // namespace xent::tools
