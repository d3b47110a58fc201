"""synthloop.training"""
