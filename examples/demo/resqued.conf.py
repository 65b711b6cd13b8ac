# resqued configuration (Python DSL). See docs/configuration.md.
worker_processes(4)
queue("high", 2)  # workers 1-2 look at high first
queue("low", "50%")  # workers 1-2 then look at low
queue("*")  # everyone works everything else
interval(1)


@after_fork
def announce(worker):
    print(f"after_fork: worker {worker.id} is ready", flush=True)
