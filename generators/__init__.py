"""synthloop.generators"""
