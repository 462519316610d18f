"""Full fine-tuning: every weight trains and the run saves a whole model."""


def apply(model, cfg, task):
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model, []
