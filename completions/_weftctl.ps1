
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'weftctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'weftctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'weftctl' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate secrets and configuration files')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Validate a machine config')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Output shell completion code for the given shell')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Get a specific resource or list of resources')
            [CompletionResult]::new('g', 'g', [CompletionResultType]::ParameterValue, 'Get a specific resource or list of resources')
            [CompletionResult]::new('apply-config', 'apply-config', [CompletionResultType]::ParameterValue, 'Apply a new machine config to nodes, immediately (no restart)')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Manage the client config (contexts, credentials)')
            [CompletionResult]::new('cluster', 'cluster', [CompletionResultType]::ParameterValue, 'Create or destroy a local mesh of nodes in network namespaces (needs root)')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Check that every node is healthy: API, KubeSpan identity, discovery, every peer up')
            [CompletionResult]::new('leave', 'leave', [CompletionResultType]::ParameterValue, 'Withdraw nodes from the cluster''s discovery services (needs os:admin)')
            [CompletionResult]::new('external-peer', 'external-peer', [CompletionResultType]::ParameterValue, 'Publish WireGuard devices that run no weftd as cluster members (needs os:admin)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;gen' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('secrets', 'secrets', [CompletionResultType]::ParameterValue, 'Generate a secrets bundle: cluster id and secret, and the node API CA')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Generate machine configs and a client config for a new cluster')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;gen;secrets' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Path of the secrets bundle to write')
            [CompletionResult]::new('--output-file', '--output-file', [CompletionResultType]::ParameterName, 'Path of the secrets bundle to write')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;gen;config' {
            [CompletionResult]::new('--with-cluster-discovery', '--with-cluster-discovery', [CompletionResultType]::ParameterName, 'Enable cluster discovery')
            [CompletionResult]::new('--with-secrets', '--with-secrets', [CompletionResultType]::ParameterName, 'Use the secrets bundle at this path instead of generating new secrets')
            [CompletionResult]::new('--discovery-endpoint', '--discovery-endpoint', [CompletionResultType]::ParameterName, 'Discovery service URL (repeatable); the first replaces the default https://discovery.talos.dev/, the others are added')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output: a directory, a file (with one output type), or - for stdout (with one output type)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output: a directory, a file (with one output type), or - for stdout (with one output type)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Types of output to generate')
            [CompletionResult]::new('--output-types', '--output-types', [CompletionResultType]::ParameterName, 'Types of output to generate')
            [CompletionResult]::new('--config-patch', '--config-patch', [CompletionResultType]::ParameterName, 'Patch applied to every machine config: @file or inline YAML (repeatable)')
            [CompletionResult]::new('--config-patch-control-plane', '--config-patch-control-plane', [CompletionResultType]::ParameterName, 'Patch applied to the controlplane config only (repeatable)')
            [CompletionResult]::new('--config-patch-worker', '--config-patch-worker', [CompletionResultType]::ParameterName, 'Patch applied to the worker config only (repeatable)')
            [CompletionResult]::new('--additional-sans', '--additional-sans', [CompletionResultType]::ParameterName, 'Extra names and addresses of the node API certificate, comma-separated (machine.certSANs)')
            [CompletionResult]::new('--with-docs', '--with-docs', [CompletionResultType]::ParameterName, 'talosctl''s commented field documentation in the machine configs; accepted and ignored (Weft''s configs are short, `weftctl validate` explains every field it refuses)')
            [CompletionResult]::new('--with-examples', '--with-examples', [CompletionResultType]::ParameterName, 'talosctl''s commented examples in the machine configs; accepted and ignored')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--with-kubespan', '--with-kubespan', [CompletionResultType]::ParameterName, 'Enable KubeSpan (and cluster discovery)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;gen;help' {
            [CompletionResult]::new('secrets', 'secrets', [CompletionResultType]::ParameterValue, 'Generate a secrets bundle: cluster id and secret, and the node API CA')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Generate machine configs and a client config for a new cluster')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;gen;help;secrets' {
            break
        }
        'weftctl;gen;help;config' {
            break
        }
        'weftctl;gen;help;help' {
            break
        }
        'weftctl;validate' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Path of the machine config to validate')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Path of the machine config to validate')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'talosctl''s platform mode (metal, cloud, container); accepted and ignored: Weft''s config does not depend on the platform')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'talosctl''s platform mode (metal, cloud, container); accepted and ignored: Weft''s config does not depend on the platform')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Fail on warnings too')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;version' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--short', '--short', [CompletionResultType]::ParameterName, 'Print only the version number')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'Print the client''s version only, without asking any node')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;completion' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;get' {
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace [default: the type''s own]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table, yaml, json or jsonpath=EXPR')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table, yaml, json or jsonpath=EXPR')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch for changes')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch for changes')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;g' {
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace [default: the type''s own]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: table, yaml, json or jsonpath=EXPR')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: table, yaml, json or jsonpath=EXPR')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch for changes')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch for changes')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;apply-config' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The machine config to apply')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The machine config to apply')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'talosctl''s apply mode: weftd applies every config live, so auto, no-reboot and reboot all apply it now; staged and try are refused (weftd keeps no staged or trial config)')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'talosctl''s apply mode: weftd applies every config live, so auto, no-reboot and reboot all apply it now; staged and try are refused (weftd keeps no staged or trial config)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Check the config on the node without applying it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('new', 'new', [CompletionResultType]::ParameterValue, 'Issue a client certificate on a node and write a client config around it (needs os:admin)')
            [CompletionResult]::new('contexts', 'contexts', [CompletionResultType]::ParameterValue, 'List the contexts of the client config')
            [CompletionResult]::new('use-context', 'use-context', [CompletionResultType]::ParameterValue, 'Make a context the current one')
            [CompletionResult]::new('context', 'context', [CompletionResultType]::ParameterValue, 'Make a context the current one')
            [CompletionResult]::new('merge', 'merge', [CompletionResultType]::ParameterValue, 'Merge a client config (e.g. from gen config) into the default one')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove contexts from the client config')
            [CompletionResult]::new('info', 'info', [CompletionResultType]::ParameterValue, 'Show the current context: nodes, endpoints, roles, certificate expiry')
            [CompletionResult]::new('endpoint', 'endpoint', [CompletionResultType]::ParameterValue, 'Set the current context''s endpoints')
            [CompletionResult]::new('endpoints', 'endpoints', [CompletionResultType]::ParameterValue, 'Set the current context''s endpoints')
            [CompletionResult]::new('node', 'node', [CompletionResultType]::ParameterValue, 'Set the current context''s nodes')
            [CompletionResult]::new('nodes', 'nodes', [CompletionResultType]::ParameterValue, 'Set the current context''s nodes')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a context from CA, client certificate and key files (PEM)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;config;new' {
            [CompletionResult]::new('--roles', '--roles', [CompletionResultType]::ParameterName, 'Roles of the new certificate, comma-separated (os:admin, os:reader)')
            [CompletionResult]::new('--crt-ttl', '--crt-ttl', [CompletionResultType]::ParameterName, 'Validity of the certificate')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite an existing file')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;contexts' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;use-context' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;context' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;merge' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;remove' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (it is asked only at a terminal)')
            [CompletionResult]::new('--noconfirm', '--noconfirm', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (it is asked only at a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;info' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;endpoint' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;endpoints' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;node' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;nodes' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;add' {
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'The CA certificate file (PEM)')
            [CompletionResult]::new('--crt', '--crt', [CompletionResultType]::ParameterName, 'The client certificate file (PEM)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The client key file (PEM)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;config;help' {
            [CompletionResult]::new('new', 'new', [CompletionResultType]::ParameterValue, 'Issue a client certificate on a node and write a client config around it (needs os:admin)')
            [CompletionResult]::new('contexts', 'contexts', [CompletionResultType]::ParameterValue, 'List the contexts of the client config')
            [CompletionResult]::new('use-context', 'use-context', [CompletionResultType]::ParameterValue, 'Make a context the current one')
            [CompletionResult]::new('merge', 'merge', [CompletionResultType]::ParameterValue, 'Merge a client config (e.g. from gen config) into the default one')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove contexts from the client config')
            [CompletionResult]::new('info', 'info', [CompletionResultType]::ParameterValue, 'Show the current context: nodes, endpoints, roles, certificate expiry')
            [CompletionResult]::new('endpoint', 'endpoint', [CompletionResultType]::ParameterValue, 'Set the current context''s endpoints')
            [CompletionResult]::new('node', 'node', [CompletionResultType]::ParameterValue, 'Set the current context''s nodes')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a context from CA, client certificate and key files (PEM)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;config;help;new' {
            break
        }
        'weftctl;config;help;contexts' {
            break
        }
        'weftctl;config;help;use-context' {
            break
        }
        'weftctl;config;help;merge' {
            break
        }
        'weftctl;config;help;remove' {
            break
        }
        'weftctl;config;help;info' {
            break
        }
        'weftctl;config;help;endpoint' {
            break
        }
        'weftctl;config;help;node' {
            break
        }
        'weftctl;config;help;add' {
            break
        }
        'weftctl;config;help;help' {
            break
        }
        'weftctl;cluster' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove a local mesh: processes, namespaces, links and files (also after a crash)')
            [CompletionResult]::new('chaos', 'chaos', [CompletionResultType]::ParameterValue, 'Change the network impairments of a running local mesh: loss, bandwidth, partitions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;cluster;create' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Cluster name (also the client context''s name)')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Number of worker nodes besides the control-plane node (as talosctl''s `--workers`; -n overrides it)')
            [CompletionResult]::new('--discovery', '--discovery', [CompletionResultType]::ParameterName, 'Discovery service: `embedded` (a weft-discovery started for the cluster) or a URL')
            [CompletionResult]::new('--cidr', '--cidr', [CompletionResultType]::ParameterName, 'IPv4 network for the nodes; the host side takes the first address')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where cluster state lives [default: ~/.weft/clusters]')
            [CompletionResult]::new('--wait-timeout', '--wait-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the mesh to be healthy (the checks of `weftctl health`)')
            [CompletionResult]::new('--with-network-packet-loss', '--with-network-packet-loss', [CompletionResultType]::ParameterName, 'Random packet loss on every node''s link, each direction, as a fraction: 0.2 = 20 %')
            [CompletionResult]::new('--with-network-bandwidth', '--with-network-bandwidth', [CompletionResultType]::ParameterName, 'Bandwidth limit of every node''s link, each direction, in kbit/s')
            [CompletionResult]::new('--with-network-latency', '--with-network-latency', [CompletionResultType]::ParameterName, 'Latency on every node''s link (needs the kernel''s netem, sch_netem)')
            [CompletionResult]::new('--with-network-jitter', '--with-network-jitter', [CompletionResultType]::ParameterName, 'Jitter of that latency (needs sch_netem)')
            [CompletionResult]::new('--with-network-packet-reorder', '--with-network-packet-reorder', [CompletionResultType]::ParameterName, 'Reordered packets, as a fraction (needs sch_netem and a latency)')
            [CompletionResult]::new('--with-network-packet-corrupt', '--with-network-packet-corrupt', [CompletionResultType]::ParameterName, 'Corrupted packets, as a fraction (needs sch_netem)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--with-network-chaos', '--with-network-chaos', [CompletionResultType]::ParameterName, 'Enable the network chaos flags (as in talosctl, they are refused without it)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;cluster;destroy' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Cluster name')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where cluster state lives [default: ~/.weft/clusters]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;cluster;chaos' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Cluster name')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where cluster state lives [default: ~/.weft/clusters]')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'The node --loss, --bandwidth and --clear apply to, by index (i of weft-<name>-<i>) [default: every node]')
            [CompletionResult]::new('--loss', '--loss', [CompletionResultType]::ParameterName, 'Random loss on the node''s link, each direction, in percent (0 removes it)')
            [CompletionResult]::new('--bandwidth', '--bandwidth', [CompletionResultType]::ParameterName, 'Bandwidth limit of the node''s link, each direction, in kbit/s (0 removes it)')
            [CompletionResult]::new('--partition', '--partition', [CompletionResultType]::ParameterName, 'Drop everything between nodes I and J, both directions; both still reach the others and the host (repeatable)')
            [CompletionResult]::new('--heal', '--heal', [CompletionResultType]::ParameterName, 'Undo --partition I,J (repeatable)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'Remove every impairment of --node, its partitions included, or of every node')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;cluster;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove a local mesh: processes, namespaces, links and files (also after a crash)')
            [CompletionResult]::new('chaos', 'chaos', [CompletionResultType]::ParameterValue, 'Change the network impairments of a running local mesh: loss, bandwidth, partitions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;cluster;help;create' {
            break
        }
        'weftctl;cluster;help;destroy' {
            break
        }
        'weftctl;cluster;help;chaos' {
            break
        }
        'weftctl;cluster;help;help' {
            break
        }
        'weftctl;health' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--wait-timeout', '--wait-timeout', [CompletionResultType]::ParameterName, 'Re-check until healthy or this long has passed [default: check once]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('--matrix', '--matrix', [CompletionResultType]::ParameterName, 'Print the node × node grid of peer states instead of the checks')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;leave' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;external-peer' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Publish a WireGuard device as a member (adding an existing name replaces it)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Stop publishing an external peer; every node drops it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;external-peer;add' {
            [CompletionResult]::new('--public-key', '--public-key', [CompletionResultType]::ParameterName, 'Its WireGuard public key (as `wg pubkey` prints it)')
            [CompletionResult]::new('--endpoint', '--endpoint', [CompletionResultType]::ParameterName, 'Where it listens; without one it must call the nodes first')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Address or network routed to it, its tunnel address included (repeatable or comma-separated); a single address in the KubeSpan subnet becomes its KubeSpan address')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;external-peer;remove' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes')
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Context to use instead of the client config''s current one')
            [CompletionResult]::new('--weftconfig', '--weftconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--talosconfig', '--talosconfig', [CompletionResultType]::ParameterName, 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connection and request timeout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;external-peer;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Publish a WireGuard device as a member (adding an existing name replaces it)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Stop publishing an external peer; every node drops it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;external-peer;help;add' {
            break
        }
        'weftctl;external-peer;help;remove' {
            break
        }
        'weftctl;external-peer;help;help' {
            break
        }
        'weftctl;help' {
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate secrets and configuration files')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Validate a machine config')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Output shell completion code for the given shell')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Get a specific resource or list of resources')
            [CompletionResult]::new('apply-config', 'apply-config', [CompletionResultType]::ParameterValue, 'Apply a new machine config to nodes, immediately (no restart)')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Manage the client config (contexts, credentials)')
            [CompletionResult]::new('cluster', 'cluster', [CompletionResultType]::ParameterValue, 'Create or destroy a local mesh of nodes in network namespaces (needs root)')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Check that every node is healthy: API, KubeSpan identity, discovery, every peer up')
            [CompletionResult]::new('leave', 'leave', [CompletionResultType]::ParameterValue, 'Withdraw nodes from the cluster''s discovery services (needs os:admin)')
            [CompletionResult]::new('external-peer', 'external-peer', [CompletionResultType]::ParameterValue, 'Publish WireGuard devices that run no weftd as cluster members (needs os:admin)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;help;gen' {
            [CompletionResult]::new('secrets', 'secrets', [CompletionResultType]::ParameterValue, 'Generate a secrets bundle: cluster id and secret, and the node API CA')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Generate machine configs and a client config for a new cluster')
            break
        }
        'weftctl;help;gen;secrets' {
            break
        }
        'weftctl;help;gen;config' {
            break
        }
        'weftctl;help;validate' {
            break
        }
        'weftctl;help;version' {
            break
        }
        'weftctl;help;completion' {
            break
        }
        'weftctl;help;get' {
            break
        }
        'weftctl;help;apply-config' {
            break
        }
        'weftctl;help;config' {
            [CompletionResult]::new('new', 'new', [CompletionResultType]::ParameterValue, 'Issue a client certificate on a node and write a client config around it (needs os:admin)')
            [CompletionResult]::new('contexts', 'contexts', [CompletionResultType]::ParameterValue, 'List the contexts of the client config')
            [CompletionResult]::new('use-context', 'use-context', [CompletionResultType]::ParameterValue, 'Make a context the current one')
            [CompletionResult]::new('merge', 'merge', [CompletionResultType]::ParameterValue, 'Merge a client config (e.g. from gen config) into the default one')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove contexts from the client config')
            [CompletionResult]::new('info', 'info', [CompletionResultType]::ParameterValue, 'Show the current context: nodes, endpoints, roles, certificate expiry')
            [CompletionResult]::new('endpoint', 'endpoint', [CompletionResultType]::ParameterValue, 'Set the current context''s endpoints')
            [CompletionResult]::new('node', 'node', [CompletionResultType]::ParameterValue, 'Set the current context''s nodes')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a context from CA, client certificate and key files (PEM)')
            break
        }
        'weftctl;help;config;new' {
            break
        }
        'weftctl;help;config;contexts' {
            break
        }
        'weftctl;help;config;use-context' {
            break
        }
        'weftctl;help;config;merge' {
            break
        }
        'weftctl;help;config;remove' {
            break
        }
        'weftctl;help;config;info' {
            break
        }
        'weftctl;help;config;endpoint' {
            break
        }
        'weftctl;help;config;node' {
            break
        }
        'weftctl;help;config;add' {
            break
        }
        'weftctl;help;cluster' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove a local mesh: processes, namespaces, links and files (also after a crash)')
            [CompletionResult]::new('chaos', 'chaos', [CompletionResultType]::ParameterValue, 'Change the network impairments of a running local mesh: loss, bandwidth, partitions')
            break
        }
        'weftctl;help;cluster;create' {
            break
        }
        'weftctl;help;cluster;destroy' {
            break
        }
        'weftctl;help;cluster;chaos' {
            break
        }
        'weftctl;help;health' {
            break
        }
        'weftctl;help;leave' {
            break
        }
        'weftctl;help;external-peer' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Publish a WireGuard device as a member (adding an existing name replaces it)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Stop publishing an external peer; every node drops it')
            break
        }
        'weftctl;help;external-peer;add' {
            break
        }
        'weftctl;help;external-peer;remove' {
            break
        }
        'weftctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
