module kubecoderun/runner

go 1.25
