"""The rules stage of the split pipeline (services/PIPELINE.md): RulesService.Process."""

VERSION = "0.1.0"
