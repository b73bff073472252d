
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
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate secrets and configuration files')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Validate a machine config')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Output shell completion code for the given shell')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'weftctl;gen' {
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
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;version' {
            [CompletionResult]::new('--short', '--short', [CompletionResultType]::ParameterName, 'Print only the version number')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;completion' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'weftctl;help' {
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate secrets and configuration files')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Validate a machine config')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Output shell completion code for the given shell')
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
        'weftctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
