#pragma once
// Flash: concurrent command-line programs in C++20. This header brings the whole core library;
// the operations under flash/ops/ are included one by one.

#include <flash/version.hpp>

#include <flash/core/error.hpp>
#include <flash/core/fixed_string.hpp>

#include <flash/runtime/cancellation.hpp>
#include <flash/runtime/memory.hpp>
#include <flash/runtime/metrics.hpp>
#include <flash/runtime/offload.hpp>
#include <flash/runtime/resource_scope.hpp>
#include <flash/runtime/retry.hpp>
#include <flash/runtime/semaphore.hpp>
#include <flash/runtime/shield.hpp>
#include <flash/runtime/task_group.hpp>
#include <flash/runtime/timeout.hpp>
#include <flash/runtime/when.hpp>
#include <flash/runtime/yield.hpp>

#include <flash/exec/awaitable.hpp>
#include <flash/exec/model.hpp>
#include <flash/exec/runtime.hpp>
#include <flash/exec/sleep.hpp>
#include <flash/exec/stack_pool.hpp>
#include <flash/exec/task.hpp>
#include <flash/exec/task_sleep.hpp>
#include <flash/exec/thread_pool.hpp>

#include <flash/dispatch/handler_shape.hpp>
#include <flash/dispatch/model_selection.hpp>

#include <flash/cli/app.hpp>
#include <flash/cli/command.hpp>
#include <flash/cli/context.hpp>
#include <flash/cli/exit_code.hpp>
#include <flash/cli/handler_concepts.hpp>
#include <flash/cli/prompt.hpp>
#include <flash/cli/terminal.hpp>
#include <flash/cli/validators.hpp>

#include <flash/ui/progress.hpp>
